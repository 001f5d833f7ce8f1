#ifndef GATEHOUSE_API_ROUTES_H_
#define GATEHOUSE_API_ROUTES_H_

#include "api/api_context.h"
#include "http/router.h"

namespace gatehouse {

// Each API area registers its routes; `services` must outlive `router`.
void AddOpsRoutes(Router& router, ApiServices& services);
void AddAccessControlRoutes(Router& router, ApiServices& services);
void AddOrganizationRoutes(Router& router, ApiServices& services);
void AddTokenRoutes(Router& router, ApiServices& services);
void AddAdminRoutes(Router& router, ApiServices& services);
void AddConsoleRoutes(Router& router, ApiServices& services);
void AddAssistantRoutes(Router& router, ApiServices& services);
void AddChatRoutes(Router& router, ApiServices& services);
// GET /v1/models, POST /v1/embeddings, GET /v2/llm/providers/{name}[/models[/{model}]].
void AddOpenAiRoutes(Router& router, ApiServices& services);
void AddExportRoutes(Router& router, ApiServices& services);
void AddAuditRoutes(Router& router, ApiServices& services);

// All of the above.
void AddApiRoutes(Router& router, ApiServices& services);

// The request handler for the HTTP server: routes, answers 404 id 404 / 405 id 405 (with Allow)
// for unknown routes and methods, serves the console's files for other GETs, and turns any
// escaped exception into a 500 without internals. `router` and `services` must outlive it.
HttpHandler MakeApiHandler(const Router& router, ApiServices& services);

// The envelope for errors found by the transport before routing (400, 413).
void WriteTransportError(int status, HttpResponse& response);

// Serves a file of the built console from `web_dir` ("/" is index.html); false when there is
// no such file (paths that try to leave web_dir never match).
bool ServeStaticFile(const std::string& web_dir, const std::string& path, HttpResponse& response);

}  // namespace gatehouse

#endif  // GATEHOUSE_API_ROUTES_H_
