#ifndef GATEHOUSE_API_ROUTES_H_
#define GATEHOUSE_API_ROUTES_H_

#include "api/api_context.h"
#include "api/route_table.h"

namespace gatehouse {

// Each API area registers its routes with their access rules.
void AddOpsRoutes(RouteTable& routes);
void AddAccessControlRoutes(RouteTable& routes);
void AddOrganizationRoutes(RouteTable& routes);
void AddTokenRoutes(RouteTable& routes);
void AddLeakReportRoutes(RouteTable& routes);
void AddAdminRoutes(RouteTable& routes);
void AddConsoleRoutes(RouteTable& routes);
void AddAssistantRoutes(RouteTable& routes);
void AddChatRoutes(RouteTable& routes);
// GET /v1/models, POST /v1/embeddings, GET /v2/llm/providers/{name}[/models[/{model}]].
void AddOpenAiRoutes(RouteTable& routes);
void AddExportRoutes(RouteTable& routes);
void AddAuditRoutes(RouteTable& routes);
void AddUsageLimitRoutes(RouteTable& routes);

// All of the above, then GET /openapi.json generated from the table.
void AddApiRoutes(RouteTable& routes);

// The request handler for the HTTP server: routes, answers 404 id 404 / 405 id 405 (with Allow)
// for unknown routes and methods, serves the console's files for other GETs, and turns any
// escaped exception into a 500 without internals. `routes` must outlive it.
HttpHandler MakeApiHandler(const RouteTable& routes);

// The envelope for errors found by the transport before routing (400, 413).
void WriteTransportError(int status, HttpResponse& response);

// Serves a file of the built console from `web_dir` ("/" is index.html); false when there is
// no such file (paths that try to leave web_dir never match).
// Every file gets the console's security headers (AddConsoleSecurityHeaders).
bool ServeStaticFile(const std::string& web_dir, const std::string& path, HttpResponse& response);
// Content-Security-Policy (own scripts and styles only, no framing), X-Content-Type-Options,
// X-Frame-Options and Referrer-Policy, for every page and file of the console.
void AddConsoleSecurityHeaders(HttpResponse& response);

}  // namespace gatehouse

#endif  // GATEHOUSE_API_ROUTES_H_
