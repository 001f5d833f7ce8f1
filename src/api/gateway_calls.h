#ifndef GATEHOUSE_API_GATEWAY_CALLS_H_
#define GATEHOUSE_API_GATEWAY_CALLS_H_

#include "api/api_context.h"
#include "api/request_input.h"
#include "gateway/chat.h"

namespace gatehouse {

// The origin of a call by `caller`, starting now by `clock` (which must outlive the call).
CallOrigin OriginOf(const Principal& caller, const Clock& clock);

// Reads the optional saia-conversation-id header into `origin` (400 id 11 when it is not
// UTF-8 text of at most 400 bytes).
Status ReadSession(const HttpRequest& request, CallOrigin& origin);

// The keys Gatehouse reads or writes in a chat completion's body (its own, its messages', their
// content parts' and stream_options') or an embeddings body, renamed to OpenAI's spelling: keys
// are read in any case (API.md §1) and relayed as the provider reads them (SpellKeys).
void SpellChatKeys(boost::json::object& body);
void SpellEmbeddingsKeys(boost::json::object& body);

// Reads a chat or embeddings body's `model` into `call.model_name` (for the record, even when
// the call is refused), or adds its problem to `problems`: missing (id 9) or not text (id 11).
void ReadCallModel(const boost::json::object& body, ChatCall& call, BodyReader& problems);

// Records a call of `kind` that the authenticator refused after identifying its caller (an
// address outside the token's allowedCidrs, or its rate limit; API.md §3): failed, with the
// error's status and what the body names (its model, its messages or input). Memory only.
void RecordRefusedCall(ApiServices& services, const ApiCall& api, const Error& error,
                       CallKind kind);

// Makes `response` asynchronous: on the event loop, `call` runs on services.gateway and its
// result fills the response; a client that leaves cancels the call.
void RunOnGateway(ApiServices& services, ChatCall call, HttpResponse& response);

}  // namespace gatehouse

#endif  // GATEHOUSE_API_GATEWAY_CALLS_H_
