/* The load harness of `scripts/bench --streams N` (not a test; never run in CI).
 *
 * One small program, three modes, plain sockets and epoll, one thread each:
 *
 *   streams upstream CHUNKS INTERVAL_MS
 *       An OpenAI-style streaming upstream on 127.0.0.1 (a free port, printed on stdout). Every
 *       POST gets a chunked text/event-stream answer: CHUNKS content events INTERVAL_MS apart
 *       (the first one INTERVAL_MS after the request), then a usage event and `data: [DONE]`.
 *       Keep-alive unless the request says `Connection: close`. Runs until SIGTERM/SIGINT.
 *   streams client PORT COUNT PATH TOKEN MODEL TIMEOUT_S
 *       Opens COUNT connections to 127.0.0.1:PORT at once (all the connect() calls in one go,
 *       each request written as soon as its connection is up), sends one streamed chat call on
 *       each (`Connection: close`) and reads every answer to its end. A call counts as
 *       complete when its status is 200 and `data: [DONE]` arrived before the server closed;
 *       anything else (refused or reset connection, other status, no [DONE], still open after
 *       TIMEOUT_S) is an error. Prints one JSON line of figures.
 *   streams probe PORT TOKEN RATE SECONDS
 *       GET /v1/accessControl/apitoken/validate on one keep-alive connection, RATE requests a
 *       second for SECONDS (paced by the clock; the latency of each is from its send to the end
 *       of its answer). Prints one JSON line: p50, p99 and max in ms, and the p99 of the first
 *       second alone.
 *
 * Each mode raises its open-file soft limit to the hard limit. Build: cc -O2 -o streams
 * streams.c (bench/bench.py does, into its temporary directory).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double Now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void RaiseOpenFileLimit(void) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

static struct sockaddr_in Loopback(int port) {
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_port = htons((uint16_t)port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

static int CompareDoubles(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

/* The value below which `share` of the sorted `values` lie (nearest rank). */
static double Percentile(const double* sorted, int count, double share) {
  if (count == 0) return 0;
  int rank = (int)(share * count + 0.999999) - 1;
  if (rank < 0) rank = 0;
  if (rank >= count) rank = count - 1;
  return sorted[rank];
}

/* ---- upstream ------------------------------------------------------------------------------ */

enum UpstreamState { kReading, kStreaming, kClosed };

struct Stream {
  int fd;
  enum UpstreamState state;
  int sent;                /* content events written in this answer */
  int keep_alive;          /* the request allows another one on this connection */
  double due;              /* when the next event is written */
  struct Stream* next_due; /* the due queue (FIFO: every entry waits the same interval) */
  size_t have;             /* request bytes in `head` */
  char head[4096];
};

static volatile sig_atomic_t stopping = 0;
static void OnStopSignal(int signal_number) {
  (void)signal_number;
  stopping = 1;
}

/* The chunked HTTP encoding of the SSE event `data: PAYLOAD\n\n`. */
static int Event(char* out, size_t size, const char* payload) {
  char event[512];
  const int length = snprintf(event, sizeof event, "data: %s\n\n", payload);
  return snprintf(out, size, "%x\r\n%s\r\n", length, event);
}

/* Writes all of `data` or reports failure: every piece is tiny, so a socket buffer that is full
 * means a reader that stopped reading, and the connection is dropped. */
static int WriteAll(int fd, const char* data, size_t size) {
  return send(fd, data, size, MSG_NOSIGNAL) == (ssize_t)size;
}

static void CloseStream(struct Stream* stream) {
  if (stream->state == kClosed) return;
  close(stream->fd);
  stream->state = kClosed;
}

/* After a whole request arrived: the head of the answer now, the events from the due queue. */
static int StartAnswer(struct Stream* stream) {
  stream->head[stream->have < sizeof stream->head ? stream->have : sizeof stream->head - 1] = 0;
  stream->keep_alive = strcasestr(stream->head, "\r\nconnection: close") == NULL;
  stream->have = 0;
  stream->sent = 0;
  static const char kHead[] =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
  if (!WriteAll(stream->fd, kHead, sizeof kHead - 1)) return 0;
  stream->state = kStreaming;
  return 1;
}

/* Reads what the peer sent; true once a whole request (head and Content-Length body) is in. */
static int ReadRequest(struct Stream* stream) {
  for (;;) {
    if (stream->have == sizeof stream->head) return -1;
    const ssize_t got =
        recv(stream->fd, stream->head + stream->have, sizeof stream->head - stream->have - 1, 0);
    if (got == 0) return -1;
    if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    stream->have += (size_t)got;
    stream->head[stream->have] = 0;
    const char* end = strstr(stream->head, "\r\n\r\n");
    if (end == NULL) continue;
    const char* length = strcasestr(stream->head, "\r\ncontent-length:");
    const size_t body = length && length < end ? strtoul(length + 17, NULL, 10) : 0;
    if (stream->have >= (size_t)(end + 4 - stream->head) + body) return 1;
  }
}

/* Writes the next content event of `stream`, followed by the usage event, [DONE] and the end of
 * the body after the last one. -1 when a write failed, 0 when the connection is done with (to be
 * closed), 1 when it goes on. */
static int WriteNextEvent(struct Stream* stream, int chunks) {
  char out[2048];
  char payload[256];
  int length = 0;
  if (stream->sent < chunks) {
    snprintf(payload, sizeof payload,
             "{\"id\":\"chatcmpl-load\",\"object\":\"chat.completion.chunk\",\"created\":0,"
             "\"model\":\"stream\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"c%d \"},"
             "\"finish_reason\":null}]}",
             stream->sent);
    length = Event(out, sizeof out, payload);
    ++stream->sent;
  }
  if (stream->sent < chunks) return WriteAll(stream->fd, out, (size_t)length) ? 1 : -1;
  length += Event(out + length, sizeof out - (size_t)length,
                  "{\"id\":\"chatcmpl-load\",\"object\":\"chat.completion.chunk\","
                  "\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,"
                  "\"total_tokens\":8}}");
  length += Event(out + length, sizeof out - (size_t)length, "[DONE]");
  length += snprintf(out + length, sizeof out - (size_t)length, "0\r\n\r\n");
  if (!WriteAll(stream->fd, out, (size_t)length)) return -1;
  if (!stream->keep_alive) return 0;
  stream->state = kReading;
  return 1;
}

static int RunUpstream(int chunks, double interval) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const int on = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  struct sockaddr_in address = Loopback(0);
  socklen_t size = sizeof address;
  if (bind(listener, (struct sockaddr*)&address, sizeof address) != 0 ||
      listen(listener, 65535) != 0 ||
      getsockname(listener, (struct sockaddr*)&address, &size) != 0) {
    perror("upstream: listen");
    return 1;
  }
  printf("%d\n", ntohs(address.sin_port));
  fflush(stdout);
  signal(SIGTERM, OnStopSignal);
  signal(SIGINT, OnStopSignal);

  const int poll = epoll_create1(0);
  struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(poll, EPOLL_CTL_ADD, listener, &event);
  struct Stream *first_due = NULL, *last_due = NULL;
  long accepted = 0, answered = 0, dropped = 0;
  struct epoll_event ready[1024];
  while (!stopping) {
    int wait_ms = -1;
    if (first_due) {
      const double left = first_due->due - Now();
      wait_ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
    }
    const int count = epoll_wait(poll, ready, 1024, wait_ms);
    for (int i = 0; i < count; ++i) {
      struct Stream* stream = ready[i].data.ptr;
      if (stream == NULL) { /* the listener: take every waiting connection */
        int fd;
        while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
          stream = calloc(1, sizeof *stream);
          stream->fd = fd;
          struct epoll_event watch = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = stream};
          epoll_ctl(poll, EPOLL_CTL_ADD, fd, &watch);
          ++accepted;
        }
        continue;
      }
      if (stream->state == kClosed) continue;
      if (stream->state == kStreaming) { /* the gateway left before the end of the answer */
        if (ready[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) CloseStream(stream);
        continue; /* freed when its turn in the due queue comes */
      }
      const int whole = ReadRequest(stream);
      if (whole < 0) {
        CloseStream(stream);
        free(stream);
      } else if (whole > 0) {
        if (!StartAnswer(stream)) {
          ++dropped;
          CloseStream(stream);
          free(stream);
          continue;
        }
        stream->due = Now() + interval;
        stream->next_due = NULL;
        if (last_due)
          last_due->next_due = stream;
        else
          first_due = stream;
        last_due = stream;
      }
    }
    const double now = Now();
    while (first_due && first_due->due <= now) {
      struct Stream* stream = first_due;
      first_due = stream->next_due;
      if (first_due == NULL) last_due = NULL;
      if (stream->state == kClosed) {
        free(stream);
        continue;
      }
      const int outcome = WriteNextEvent(stream, chunks);
      const int finished = outcome >= 0 && stream->sent == chunks;
      if (outcome <= 0) {
        if (finished)
          ++answered;
        else
          ++dropped;
        CloseStream(stream);
        free(stream);
      } else if (finished) {
        ++answered; /* back to reading its next request */
      } else {
        stream->due += interval;
        stream->next_due = NULL;
        if (last_due)
          last_due->next_due = stream;
        else
          first_due = stream;
        last_due = stream;
      }
    }
  }
  fprintf(stderr, "upstream: %ld connections, %ld answers, %ld dropped\n", accepted, answered,
          dropped);
  return 0;
}

/* ---- client -------------------------------------------------------------------------------- */

enum CallState { kConnecting, kReceiving, kEnded };

struct Call {
  int fd;
  enum CallState state;
  int ok;
  char status[13]; /* the first 12 bytes of the answer */
  size_t received;
  char tail[16]; /* the last bytes read, to find [DONE] across two reads */
  size_t tail_length;
  int saw_done;
  double first_byte; /* seconds after the start */
  double ended;
  const char* error;
};

static const char kDone[] = "data: [DONE]";

static void Absorb(struct Call* call, const char* data, size_t size, double at) {
  enum { kKeep = sizeof kDone - 2 }; /* enough of the previous read to complete a split [DONE] */
  if (call->received == 0) call->first_byte = at;
  for (size_t i = 0; call->received + i < 12 && i < size; ++i) {
    call->status[call->received + i] = data[i];
  }
  call->received += size;
  if (call->saw_done) return;
  char joined[kKeep + sizeof kDone];
  const size_t head = size < kKeep ? size : kKeep;
  memcpy(joined, call->tail, call->tail_length);
  memcpy(joined + call->tail_length, data, head);
  call->saw_done = memmem(joined, call->tail_length + head, kDone, sizeof kDone - 1) != NULL ||
                   memmem(data, size, kDone, sizeof kDone - 1) != NULL;
  /* the new tail: the last kKeep bytes of the old tail followed by `data` */
  const size_t total = call->tail_length + head;
  const size_t keep = size >= kKeep ? kKeep : (total < kKeep ? total : kKeep);
  if (size >= kKeep) {
    memcpy(call->tail, data + size - kKeep, kKeep);
  } else {
    memcpy(call->tail, joined + total - keep, keep);
  }
  call->tail_length = keep;
}

static void End(struct Call* call, const char* error, double at, int* open) {
  close(call->fd);
  call->state = kEnded;
  call->ended = at;
  call->error = error;
  call->ok = error == NULL;
  --*open;
}

static int RunClient(int port, int count, const char* path, const char* token, const char* model,
                     double timeout) {
  char body[512], request[2048];
  const int body_length = snprintf(
      body, sizeof body,
      "{\"model\":\"%s\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
      model);
  const int request_length = snprintf(
      request, sizeof request,
      "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
      "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
      path, port, token, body_length, body);
  struct Call* calls = calloc((size_t)count, sizeof *calls);
  const struct sockaddr_in address = Loopback(port);
  const int poll = epoll_create1(0);
  const double start = Now();
  int open = 0;
  for (int i = 0; i < count; ++i) {
    struct Call* call = &calls[i];
    call->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (call->fd < 0) {
      call->state = kEnded;
      call->error = "socket";
      continue;
    }
    ++open;
    if (connect(call->fd, (const struct sockaddr*)&address, sizeof address) != 0 &&
        errno != EINPROGRESS) {
      End(call, "connect", Now() - start, &open);
      continue;
    }
    struct epoll_event watch = {.events = EPOLLOUT, .data.ptr = call};
    epoll_ctl(poll, EPOLL_CTL_ADD, call->fd, &watch);
  }
  const double opened = Now() - start;
  double all_sent = 0;
  int sent = 0;
  static char buffer[65536];
  struct epoll_event ready[1024];
  while (open > 0) {
    const double left = start + timeout - Now();
    if (left <= 0) break;
    const int ready_count = epoll_wait(poll, ready, 1024, (int)(left * 1000) + 1);
    const double at = Now() - start;
    for (int i = 0; i < ready_count; ++i) {
      struct Call* call = ready[i].data.ptr;
      if (call->state == kConnecting) {
        int error = 0;
        socklen_t size = sizeof error;
        getsockopt(call->fd, SOL_SOCKET, SO_ERROR, &error, &size);
        if (error != 0 ||
            send(call->fd, request, (size_t)request_length, MSG_NOSIGNAL) != request_length) {
          End(call, "connect", at, &open);
          continue;
        }
        if (++sent == count) all_sent = at;
        call->state = kReceiving;
        struct epoll_event watch = {.events = EPOLLIN, .data.ptr = call};
        epoll_ctl(poll, EPOLL_CTL_MOD, call->fd, &watch);
        continue;
      }
      const ssize_t got = recv(call->fd, buffer, sizeof buffer, 0);
      if (got > 0) {
        Absorb(call, buffer, (size_t)got, at);
      } else if (got == 0) {
        const int status_ok = memcmp(call->status, "HTTP/1.1 200", 12) == 0;
        End(call, !status_ok ? "status" : !call->saw_done ? "no [DONE]" : NULL, at, &open);
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        End(call, "reset", at, &open);
      }
    }
  }
  const double wall = Now() - start;
  double* ends = calloc((size_t)count, sizeof *ends);
  double* firsts = calloc((size_t)count, sizeof *firsts);
  int ok = 0, firsts_count = 0;
  const char* example = "";
  for (int i = 0; i < count; ++i) {
    if (calls[i].state != kEnded) calls[i].error = "timeout";
    if (calls[i].ok)
      ends[ok++] = calls[i].ended;
    else if (!*example)
      example = calls[i].error;
    if (calls[i].received > 0) firsts[firsts_count++] = calls[i].first_byte;
  }
  qsort(ends, (size_t)ok, sizeof *ends, CompareDoubles);
  qsort(firsts, (size_t)firsts_count, sizeof *firsts, CompareDoubles);
  printf(
      "{\"count\": %d, \"ok\": %d, \"errors\": %d, \"example_error\": \"%s\", "
      "\"wall_s\": %.3f, \"connects_issued_s\": %.3f, \"all_sent_s\": %.3f, "
      "\"first_byte_p50_s\": %.3f, \"first_byte_max_s\": %.3f, "
      "\"end_min_s\": %.3f, \"end_p50_s\": %.3f, \"end_max_s\": %.3f}\n",
      count, ok, count - ok, example, wall, opened, all_sent, Percentile(firsts, firsts_count, 0.5),
      Percentile(firsts, firsts_count, 1.0), Percentile(ends, ok, 0.0), Percentile(ends, ok, 0.5),
      Percentile(ends, ok, 1.0));
  return 0;
}

/* ---- probe --------------------------------------------------------------------------------- */

/* Reads one answer (head and Content-Length body) from the blocking `fd`; its status or -1. */
static int ReadAnswer(int fd) {
  char answer[8192];
  size_t have = 0;
  for (;;) {
    const ssize_t got = recv(fd, answer + have, sizeof answer - have - 1, 0);
    if (got <= 0) return -1;
    have += (size_t)got;
    answer[have] = 0;
    const char* end = strstr(answer, "\r\n\r\n");
    if (end == NULL) continue;
    const char* length = strcasestr(answer, "\r\ncontent-length:");
    const size_t body = length && length < end ? strtoul(length + 17, NULL, 10) : 0;
    if (have >= (size_t)(end + 4 - answer) + body) return atoi(answer + 9);
  }
}

static int RunProbe(int port, const char* token, double rate, double seconds) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int on = 1;
  const struct sockaddr_in address = Loopback(port);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  if (connect(fd, (const struct sockaddr*)&address, sizeof address) != 0) {
    perror("probe: connect");
    return 1;
  }
  char request[1024];
  const int length = snprintf(request, sizeof request,
                              "GET /v1/accessControl/apitoken/validate HTTP/1.1\r\n"
                              "Host: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n\r\n",
                              port, token);
  const int total = (int)(rate * seconds);
  double* latencies = calloc((size_t)total, sizeof *latencies);
  double* first_second = calloc((size_t)total, sizeof *first_second);
  int done = 0, early = 0, failures = 0;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (int i = 0; i < total; ++i) {
    const double due = (double)i / rate;
    struct timespec at = start;
    at.tv_sec += (time_t)due;
    at.tv_nsec += (long)((due - (double)(time_t)due) * 1e9);
    if (at.tv_nsec >= 1000000000L) {
      at.tv_nsec -= 1000000000L;
      ++at.tv_sec;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
    const double begin = Now();
    if (send(fd, request, (size_t)length, MSG_NOSIGNAL) != length || ReadAnswer(fd) != 200) {
      ++failures;
      break;
    }
    const double latency = (Now() - begin) * 1000;
    latencies[done++] = latency;
    if (due < 1.0) first_second[early++] = latency;
  }
  qsort(latencies, (size_t)done, sizeof *latencies, CompareDoubles);
  qsort(first_second, (size_t)early, sizeof *first_second, CompareDoubles);
  printf(
      "{\"samples\": %d, \"failures\": %d, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
      "\"max_ms\": %.3f, \"first_second_p99_ms\": %.3f}\n",
      done, failures, Percentile(latencies, done, 0.5), Percentile(latencies, done, 0.99),
      Percentile(latencies, done, 1.0), Percentile(first_second, early, 0.99));
  return 0;
}

int main(int argc, char** argv) {
  RaiseOpenFileLimit();
  if (argc == 4 && strcmp(argv[1], "upstream") == 0) {
    return RunUpstream(atoi(argv[2]), atof(argv[3]) / 1000);
  }
  if (argc == 8 && strcmp(argv[1], "client") == 0) {
    return RunClient(atoi(argv[2]), atoi(argv[3]), argv[4], argv[5], argv[6], atof(argv[7]));
  }
  if (argc == 6 && strcmp(argv[1], "probe") == 0) {
    return RunProbe(atoi(argv[2]), argv[3], atof(argv[4]), atof(argv[5]));
  }
  fprintf(stderr,
          "usage: streams upstream CHUNKS INTERVAL_MS\n"
          "       streams client PORT COUNT PATH TOKEN MODEL TIMEOUT_S\n"
          "       streams probe PORT TOKEN RATE SECONDS\n");
  return 2;
}
