#ifndef GATEHOUSE_CLI_BENCH_SEED_COMMAND_H_
#define GATEHOUSE_CLI_BENCH_SEED_COMMAND_H_

#include <functional>

namespace CLI {
class App;
}

namespace gatehouse {

// Registers `gatehouse bench seed` on `app`: a benchmark tool that fills a data directory with
// an organization of many projects, tokens and request records (docs/BENCHMARKS.md). When the
// command is chosen, `run` is set to the function that performs it.
void AddBenchCommand(CLI::App& app, std::function<int()>& run);

}  // namespace gatehouse

#endif  // GATEHOUSE_CLI_BENCH_SEED_COMMAND_H_
