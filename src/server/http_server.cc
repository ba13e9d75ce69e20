#include "server/http_server.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/mutex.h"
#include "server/http_framing.h"
#include "server/io_loops.h"
#include "server/router.h"

namespace modelgrid::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(50);
// After an error reply the connection is closed; unread request bytes are drained first
// (up to these limits) so that closing does not reset the connection before the client
// has read the reply.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kLingerBytes = size_t{8} << 20;
// Requests with bodies at least this large are routed (parsed, validated, handed to the
// service) on the parse pool rather than on their I/O loop: parsing a large JSON body
// takes up to seconds, and every other connection of the loop would wait that long. 256
// KiB of JSON parses in about a millisecond, so smaller ones stay on the loop and cost no
// hand-off.
constexpr size_t kOffloadBodyBytes = size_t{256} << 10;
// A compressed body this large may decode to megabytes (deflate reaches ~1000:1): it is
// decoded on the parse pool too.
constexpr size_t kOffloadCodedBytes = size_t{4} << 10;
constexpr int kParseThreads = 2;
// Beast receives at most the read buffer's free room (but at least 512 bytes) at a time:
// a buffer left at 512 bytes takes a 4 KiB request in nine receives. Each session's buffer
// starts with room for headers and a small body; a request whose Content-Length says more
// grows it up to Beast's own cap on one receive, so large bodies arrive in 64 KiB pieces.
// A buffer keeps its size for the connection's life: 64 KiB at most, beside the body it
// fills (up to --http-max-body-bytes).
constexpr size_t kReadBufferBytes = size_t{16} << 10;
constexpr size_t kMaxReadBufferBytes = size_t{64} << 10;

using Clock = std::chrono::steady_clock;

class Session;

// Lets Infer callbacks reach a session only while the I/O threads can still run it.
// Callbacks hold it shared (they may write the reply inline); Stop closes it exclusively.
struct Gate {
  SharedMutex mu;
  bool open GUARDED_BY(mu) = true;
};

// Everything the sessions share. Member order matters: sessions may be destroyed inside
// ~IoLoops (their pending handlers own them) and unregister themselves then, so the
// registry is declared before `loops` and outlives it.
struct Core {
  Core(const ServerOptions& opts, InferenceService& svc)
      : options(opts),
        service(svc),
        router(svc, RouterOptions{opts.api_key, opts.max_body_bytes, opts.shared_memory}),
        sessions(static_cast<size_t>(opts.io_threads)),
        loops(opts.io_threads),
        acceptor(loops.first()),
        accept_retry(acceptor.get_executor()) {
    for (size_t i = 0; i < loops.size(); ++i) {
      sweepers.push_back(std::make_unique<net::steady_timer>(loops.context(i)));
    }
  }

  void DoAccept();
  void OnAccept(size_t loop, beast::error_code ec, tcp::socket socket);
  // Every sweep period, on loop `loop`: closes that loop's sessions that are past their
  // deadline. One timer per loop instead of one per connection and operation (rearming
  // a connection's timer on every read and write cost a timerfd_settime system call each).
  void Sweep(size_t loop);
  uint64_t Register(size_t loop, std::weak_ptr<Session> session);
  void Unregister(size_t loop, uint64_t id);
  void BeginRequest();
  void EndRequest();
  // Counts a new connection from `client` against the limits: empty when admitted, else why
  // not. Release undoes an admission.
  std::optional<std::string> Admit(const net::ip::address& client);
  void Release(const net::ip::address& client);
  std::vector<std::shared_ptr<Session>> LiveSessions();

  const ServerOptions options;
  InferenceService& service;
  Router router;
  std::atomic<bool> stopping{false};
  std::shared_ptr<Gate> gate = std::make_shared<Gate>();

  mutable Mutex mu;
  CondVar idle_cv;  // signalled when in_flight drops
  int in_flight GUARDED_BY(mu) = 0;
  int stops_pending GUARDED_BY(mu) = 0;  // sessions Stop() told that have not looked yet
  uint64_t next_session_id GUARDED_BY(mu) = 0;
  // Per loop: id -> session.
  std::vector<std::map<uint64_t, std::weak_ptr<Session>>> sessions GUARDED_BY(mu);
  size_t connections GUARDED_BY(mu) = 0;                         // admitted and open
  std::map<net::ip::address, size_t> per_client GUARDED_BY(mu);  // the same by client

  IoLoops loops;
  // Declared after the loops, so destroyed before them: handlers it still holds may own
  // sessions, whose sockets belong to the loops.
  net::thread_pool parse_pool{kParseThreads};
  tcp::acceptor acceptor;
  net::steady_timer accept_retry;
  std::vector<std::unique_ptr<net::steady_timer>> sweepers;  // one per loop
  uint16_t port = 0;
  bool stopped = false;  // only touched by HttpServer's owner thread
};

// One connection. Runs on one I/O loop (one thread) for its whole life; serves one request
// at a time.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `client` is the peer's address when the connection was admitted (Core::Admit), and is
  // released when the session goes; a session made to refuse a connection has none.
  Session(tcp::socket socket, Core& core, size_t loop, std::optional<net::ip::address> client)
      : core_(core), loop_(loop), client_(std::move(client)), socket_(std::move(socket)) {}
  ~Session() {
    if (counted_) core_.EndRequest();
    core_.Unregister(loop_, id_);
    if (client_) core_.Release(*client_);
  }

  // Serves requests, or with a `refusal`, answers 503 with it and closes.
  void Start(std::optional<std::string> refusal) {
    id_ = core_.Register(loop_, weak_from_this());
    if (refusal) return WriteError(503, *refusal);
    DoRead();
  }

  // Called on the strand when the server stops: an idle connection closes now, a busy one
  // after its reply.
  // A request already partly received (parsed, or bytes waiting in the socket) is read to
  // its end and answered: it counts as in flight from now on, so Stop waits for it up to
  // its deadline.
  void OnStop() {
    beast::error_code ec;
    const bool arriving = parser_ && (parser_->got_some() || socket_.available(ec) > 0);
    if (state_ == State::kReading && arriving && !counted_) {
      core_.BeginRequest();
      counted_ = true;
      return;
    }
    if (state_ == State::kReading || state_ == State::kLingering) socket_.cancel(ec);
  }

  // Called on the session's loop by its idle sweep: an operation past its deadline is
  // cancelled, and its handler closes the connection.
  // Also starts the whole-request clock of a request whose first bytes have arrived since
  // the last sweep.
  void CheckDeadline(Clock::time_point now) {
    if (state_ == State::kReading && request_deadline_ == Clock::time_point::max() &&
        (buffer_.size() > 0 || (parser_ && parser_->got_some()))) {
      StartRequestClock(now);
    }
    if (now < deadline_) return;
    deadline_ = Clock::time_point::max();
    // A request that had begun is answered 408; an idle keep-alive connection just closes.
    timed_out_ = state_ == State::kReading && request_deadline_ != Clock::time_point::max();
    beast::error_code ec;
    socket_.cancel(ec);
  }

  // The session's loop.
  net::any_io_executor executor() { return socket_.get_executor(); }

  // Drops the self-reference taken while the service works. Only after the I/O threads
  // have stopped and the gate is closed.
  void ReleaseHold() { hold_.reset(); }

 private:
  enum class State { kReading, kHandling, kWriting, kLingering, kClosed };

  void DoRead() {
    if (core_.stopping) return Close(false);
    state_ = State::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(core_.options.max_header_bytes));
    parser_->body_limit(core_.options.max_body_bytes);
    request_deadline_ = Clock::time_point::max();
    ExpiresAfter(std::chrono::milliseconds(core_.options.idle_timeout_ms));
    if (buffer_.capacity() < kReadBufferBytes) buffer_.reserve(kReadBufferBytes);
    if (buffer_.size() > 0) StartRequestClock(Clock::now());  // pipelined: already arriving
    http::async_read_header(socket_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    if (request_deadline_ == Clock::time_point::max()) StartRequestClock(Clock::now());
    const auto& header = parser_->get();
    std::vector<std::string_view> transfer_encoding;
    for (auto [it, end] = header.equal_range(http::field::transfer_encoding); it != end; ++it) {
      transfer_encoding.emplace_back(it->value().data(), it->value().size());
    }
    if (auto error = CheckRequestFraming(header.version() % 10, transfer_encoding,
                                         header.count(http::field::content_length) > 0)) {
      return WriteError(error->http_status, error->message);
    }
    auto expect = parser_->get().find(http::field::expect);
    if (expect != parser_->get().end() && beast::iequals(expect->value(), "100-continue") &&
        !parser_->is_done()) {
      continue_ = {};
      continue_.version(11);
      continue_.result(http::status::continue_);
      return http::async_write(socket_, continue_,
                               [self = shared_from_this()](beast::error_code wec, size_t) {
                                 if (wec) return self->Close(false);
                                 self->ReadBody();
                               });
    }
    ReadBody();
  }

  // Reads the body piece by piece so that the idle timeout restarts whenever bytes arrive:
  // a large upload on a slow link is fine, a stalled one is not.
  void ReadBody() {
    if (parser_->is_done()) return OnBody({}, 0);
    if (auto length = parser_->content_length_remaining()) {
      const size_t wanted = std::min<uint64_t>(kMaxReadBufferBytes, buffer_.size() + *length);
      if (wanted > buffer_.capacity()) buffer_.reserve(wanted);
    }
    ExpiresAfter(std::chrono::milliseconds(core_.options.idle_timeout_ms));
    http::async_read_some(socket_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            if (ec) return self->OnReadError(ec);
                            self->ReadBody();
                          });
  }

  void OnReadError(beast::error_code ec) {
    if (timed_out_) {
      timed_out_ = false;
      return WriteError(408, "the request did not arrive in time (whole request: " +
                                 std::to_string(core_.options.request_timeout_ms) +
                                 " ms; without progress: " +
                                 std::to_string(core_.options.idle_timeout_ms) + " ms)");
    }
    if (ec == http::error::body_limit) {
      return WriteError(413, "request body exceeds the limit of " +
                                 std::to_string(core_.options.max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return WriteError(431, "request headers exceed the limit of " +
                                 std::to_string(core_.options.max_header_bytes) + " bytes");
    }
    const bool parse_error =
        &ec.category() == &http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message;
    if (parse_error) return WriteError(400, "malformed HTTP request: " + ec.message());
    Close(false);  // end of stream, timeout, reset, cancelled by Stop
  }

  void OnBody(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    state_ = State::kHandling;
    deadline_ = Clock::time_point::max();  // the service's time is not idle time
    auto& req = parser_->get();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    if (auto it = req.find("Inference-Header-Content-Length"); it != req.end()) {
      request.inference_header_length = std::string(it->value());
    }
    if (auto it = req.find(http::field::authorization); it != req.end()) {
      request.authorization = std::string(it->value());
    }
    if (auto it = req.find(http::field::content_encoding); it != req.end()) {
      request.content_encoding = std::string(it->value());
    }
    if (auto it = req.find(http::field::accept_encoding); it != req.end()) {
      request.accept_encoding = std::string(it->value());
    }
    request.body = std::move(req.body());
    parser_.reset();

    if (!counted_) core_.BeginRequest();  // counted already when Stop caught it mid-read
    counted_ = true;
    hold_ = shared_from_this();
    std::weak_ptr<Session> weak = hold_;
    std::shared_ptr<Gate> gate = core_.gate;
    // A reply completed on the session's own loop (a worker's doorbell watched there, or
    // an error found at once) is written right away; from anywhere else it is queued to
    // that loop.
    auto reply = [weak, gate](HttpReply reply) {
      ReaderLock lock(&gate->mu);
      if (!gate->open) return;  // the server has stopped: nobody to answer
      std::shared_ptr<Session> self = weak.lock();
      if (!self) return;
      net::dispatch(self->socket_.get_executor(), [self, reply = std::move(reply)]() mutable {
        self->OnReply(std::move(reply));
      });
    };
    // Large bodies, and compressed ones of any size (they may decode to many times their
    // size), are decoded and parsed off the event loop.
    const bool offload = request.body.size() >= kOffloadBodyBytes ||
                         (request.content_encoding && request.body.size() >= kOffloadCodedBytes);
    if (!offload) {
      return core_.router.Handle(std::move(request), std::move(reply));
    }
    net::post(core_.parse_pool, [&router = core_.router, request = std::move(request),
                                 reply = std::move(reply)]() mutable {
      router.Handle(std::move(request), std::move(reply));
    });
  }

  void OnReply(HttpReply reply) {
    if (reply.stream) return StartStream(std::move(reply));
    hold_.reset();
    Write(std::move(reply), keep_alive_ && !core_.stopping, false);
  }

  // A streamed reply: the headers now, then each piece of the stream as it comes, as one
  // HTTP/1.1 chunk (HTTP/1.0: the raw bytes, and the end closes the connection). The
  // session is held (hold_) until the stream ends.
  void StartStream(HttpReply reply) {
    state_ = State::kWriting;
    request_deadline_ = Clock::time_point::max();
    stream_chunked_ = version_ >= 11;
    stream_keep_alive_ = keep_alive_ && !core_.stopping && stream_chunked_;
    std::string head = std::string(version_ >= 11 ? "HTTP/1.1" : "HTTP/1.0") +
                       " 200 OK\r\nServer: modelgrid\r\nContent-Type: " + reply.content_type +
                       "\r\nCache-Control: no-cache\r\n";
    if (stream_chunked_) head += "Transfer-Encoding: chunked\r\n";
    if (!stream_keep_alive_) head += "Connection: close\r\n";
    out_.push_back(head + "\r\n");
    WriteNextPiece();
    std::weak_ptr<Session> weak = hold_;
    std::shared_ptr<Gate> gate = core_.gate;
    reply.stream->Attach([weak, gate](std::string piece, bool end) {
      ReaderLock lock(&gate->mu);
      if (!gate->open) return;
      std::shared_ptr<Session> self = weak.lock();
      if (!self) return;
      // post, never dispatch: a piece from this loop's own thread must not overtake those
      // already queued from others.
      net::post(self->socket_.get_executor(),
                [self, piece = std::move(piece), end]() mutable { self->OnPiece(piece, end); });
    });
  }

  void OnPiece(const std::string& piece, bool end) {
    if (state_ != State::kWriting) return;  // the connection failed: nobody reads
    if (!piece.empty()) {
      if (stream_chunked_) {
        char size[24];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        out_.push_back(size + piece + "\r\n");
      } else {
        out_.push_back(piece);
      }
    }
    if (end) {
      stream_ended_ = true;
      if (stream_chunked_) out_.push_back("0\r\n\r\n");
    }
    WriteNextPiece();
  }

  void WriteNextPiece() {
    if (stream_writing_) return;
    if (out_.empty()) {
      if (!stream_ended_) {
        deadline_ = Clock::time_point::max();  // waiting for the model is not idle time
        return;
      }
      stream_ended_ = false;
      hold_.reset();
      return OnWrite({}, stream_keep_alive_, false);
    }
    stream_writing_ = true;
    ExpiresAfter(std::chrono::milliseconds(core_.options.idle_timeout_ms));
    net::async_write(socket_, net::buffer(out_.front()),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->stream_writing_ = false;
                       self->out_.pop_front();
                       if (ec) {
                         self->out_.clear();
                         self->stream_ended_ = false;
                         self->hold_.reset();
                         return self->OnWrite(ec, false, false);
                       }
                       self->WriteNextPiece();
                     });
  }

  void WriteError(int status, const std::string& message) {
    version_ = 11;
    Write(ErrorReply(status, message), false, true);
  }

  void Write(HttpReply reply, bool keep_alive, bool linger) {
    state_ = State::kWriting;
    request_deadline_ = Clock::time_point::max();  // the reply gets the idle timeout
    response_ = {};
    response_.version(version_);
    response_.result(static_cast<unsigned>(reply.status));
    response_.set(http::field::server, "modelgrid");
    response_.set(http::field::content_type, reply.content_type);
    if (reply.inference_header_length) {
      response_.set("Inference-Header-Content-Length",
                    std::to_string(*reply.inference_header_length));
    }
    if (!reply.allow.empty()) response_.set(http::field::allow, reply.allow);
    if (!reply.content_encoding.empty()) {
      response_.set(http::field::content_encoding, reply.content_encoding);
    }
    if (!reply.www_authenticate.empty()) {
      response_.set(http::field::www_authenticate, reply.www_authenticate);
    }
    response_.body() = std::move(reply.body);
    response_.keep_alive(keep_alive);
    response_.prepare_payload();
    ExpiresAfter(std::chrono::milliseconds(core_.options.idle_timeout_ms));
    http::async_write(socket_, response_,
                      [self = shared_from_this(), keep_alive, linger](
                          beast::error_code ec, size_t) { self->OnWrite(ec, keep_alive, linger); });
  }

  void OnWrite(beast::error_code ec, bool keep_alive, bool linger) {
    response_ = {};
    if (ec || !keep_alive) {
      Close(linger && !ec);
    } else {
      DoRead();
    }
    if (counted_) {
      counted_ = false;
      core_.EndRequest();
    }
  }

  // Half-closes; with `linger`, reads and discards what the client still sends for a
  // while so that the kernel does not reset the connection under the reply.
  void Close(bool linger) {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (!linger || core_.stopping) {
      state_ = State::kClosed;
      socket_.close(ec);
      return;
    }
    state_ = State::kLingering;
    lingered_bytes_ = 0;
    ExpiresAfter(kLingerTime);
    Drain();
  }

  void Drain() {
    drain_buffer_.resize(64 << 10);
    socket_.async_read_some(net::buffer(drain_buffer_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->lingered_bytes_ += n;
                              if (ec || self->lingered_bytes_ > kLingerBytes) {
                                beast::error_code ignored;
                                self->state_ = State::kClosed;
                                self->socket_.close(ignored);
                                return;
                              }
                              self->Drain();
                            });
  }

  // While a request is arriving, no deadline passes its whole-request deadline.
  void ExpiresAfter(Clock::duration d) {
    deadline_ = std::min(Clock::now() + d, request_deadline_);
  }

  void StartRequestClock(Clock::time_point now) {
    request_deadline_ = now + std::chrono::milliseconds(core_.options.request_timeout_ms);
    deadline_ = std::min(deadline_, request_deadline_);
  }

  Core& core_;
  const size_t loop_;                             // the IoLoops loop this session lives on
  const std::optional<net::ip::address> client_;  // counted by Core::Admit
  uint64_t id_ = 0;
  tcp::socket socket_;
  Clock::time_point deadline_ = Clock::time_point::max();  // see CheckDeadline
  // When the request being read must have arrived whole; max() until its first byte.
  Clock::time_point request_deadline_ = Clock::time_point::max();
  bool timed_out_ = false;  // the read was cancelled by a deadline mid-request
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::empty_body> continue_;
  http::response<http::string_body> response_;
  // A streamed reply's bytes waiting to be written, the front one being written.
  std::deque<std::string> out_;
  bool stream_writing_ = false;
  bool stream_ended_ = false;  // the stream's end is queued in out_
  bool stream_chunked_ = true;
  bool stream_keep_alive_ = false;
  std::vector<char> drain_buffer_;
  size_t lingered_bytes_ = 0;
  State state_ = State::kReading;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool counted_ = false;           // this session holds one in_flight count
  std::shared_ptr<Session> hold_;  // alive while the service works on a request
};

void Core::DoAccept() {
  const size_t loop = loops.NextIndex();
  acceptor.async_accept(loops.context(loop),
                        beast::bind_front_handler(&Core::OnAccept, this, loop));
}

void Core::OnAccept(size_t loop, beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || stopping || !acceptor.is_open()) return;
  if (ec) {  // e.g. out of file descriptors: back off instead of spinning
    accept_retry.expires_after(kAcceptRetryDelay);
    accept_retry.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && !stopping) DoAccept();
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  const tcp::endpoint peer = socket.remote_endpoint(ignored);
  std::optional<net::ip::address> client = peer.address();
  std::optional<std::string> refusal = Admit(*client);
  if (refusal) client.reset();
  auto session = std::make_shared<Session>(std::move(socket), *this, loop, std::move(client));
  net::post(loops.context(loop),
            [session, refusal = std::move(refusal)] { session->Start(refusal); });
  DoAccept();
}

std::optional<std::string> Core::Admit(const net::ip::address& client) {
  MutexLock lock(&mu);
  if (connections >= options.max_connections) {
    return "too many connections: the server's limit of " +
           std::to_string(options.max_connections) + " is reached";
  }
  if (options.max_connections_per_client > 0) {  // else no count per client is kept
    size_t& mine = per_client[client];
    if (mine >= options.max_connections_per_client) {
      return "too many connections from " + client.to_string() + ": the limit per client is " +
             std::to_string(options.max_connections_per_client);
    }
    ++mine;
  }
  ++connections;
  return std::nullopt;
}

void Core::Release(const net::ip::address& client) {
  MutexLock lock(&mu);
  --connections;
  auto it = per_client.find(client);
  if (it != per_client.end() && --it->second == 0) per_client.erase(it);
}

void Core::Sweep(size_t loop) {
  const auto period =
      std::clamp<Clock::duration>(std::chrono::milliseconds(options.idle_timeout_ms) / 4,
                                  std::chrono::milliseconds(10), std::chrono::seconds(1));
  sweepers[loop]->expires_after(period);
  sweepers[loop]->async_wait([this, loop](beast::error_code ec) {
    if (ec) return;
    std::vector<std::shared_ptr<Session>> live;
    {
      MutexLock lock(&mu);
      for (auto& [id, weak] : sessions[loop]) {
        if (auto session = weak.lock()) live.push_back(std::move(session));
      }
    }
    const Clock::time_point now = Clock::now();
    for (auto& session : live) session->CheckDeadline(now);
    Sweep(loop);
  });
}

uint64_t Core::Register(size_t loop, std::weak_ptr<Session> session) {
  MutexLock lock(&mu);
  const uint64_t id = ++next_session_id;
  sessions[loop].emplace(id, std::move(session));
  return id;
}

void Core::Unregister(size_t loop, uint64_t id) {
  MutexLock lock(&mu);
  sessions[loop].erase(id);
}

void Core::BeginRequest() {
  MutexLock lock(&mu);
  ++in_flight;
}

void Core::EndRequest() {
  MutexLock lock(&mu);
  if (--in_flight == 0) idle_cv.NotifyAll();
}

std::vector<std::shared_ptr<Session>> Core::LiveSessions() {
  MutexLock lock(&mu);
  std::vector<std::shared_ptr<Session>> live;
  for (auto& loop : sessions) {
    for (auto& [id, weak] : loop) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  return live;
}

}  // namespace

struct HttpServer::Impl {
  Impl(const ServerOptions& options, InferenceService& service) : core(options, service) {}
  Core core;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(std::chrono::milliseconds(0)); }

int DefaultIoThreads() {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(cores / 4, 1, 16);
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const ServerOptions& given,
                                                      InferenceService& service) {
  if (given.io_threads < 0) return InvalidArgument("io_threads must not be negative");
  ServerOptions options = given;
  if (options.io_threads == 0) options.io_threads = DefaultIoThreads();
  if (options.max_header_bytes == 0 || options.max_header_bytes > UINT32_MAX) {
    return InvalidArgument("max_header_bytes must be between 1 and 2^32-1");
  }
  if (options.idle_timeout_ms <= 0) return InvalidArgument("idle_timeout_ms must be positive");
  if (options.request_timeout_ms <= 0) {
    return InvalidArgument("request_timeout_ms must be positive");
  }
  if (options.max_connections == 0) return InvalidArgument("max_connections must be positive");
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(options.address, ec);
  if (ec) return InvalidArgument("bad listen address \"" + options.address + "\"");

  auto impl = std::make_unique<Impl>(options, service);
  Core& core = impl->core;
  const tcp::endpoint endpoint(address, options.port);
  const std::string where = options.address + ":" + std::to_string(options.port);
  core.acceptor.open(endpoint.protocol(), ec);
  if (!ec) core.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) core.acceptor.bind(endpoint, ec);
  if (!ec) core.acceptor.listen(options.listen_backlog, ec);
  if (ec)
    return Status(StatusCode::kUnavailable, "cannot listen on " + where + ": " + ec.message());
  core.port = core.acceptor.local_endpoint(ec).port();
  if (ec) return Internal("cannot read the bound port: " + ec.message());

  core.DoAccept();
  for (size_t i = 0; i < core.loops.size(); ++i) core.Sweep(i);
  core.loops.Start();
  service.UseEventLoop(&core.loops);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->core.port; }

int HttpServer::in_flight() const {
  MutexLock lock(&impl_->core.mu);
  return impl_->core.in_flight;
}

void HttpServer::Stop(std::chrono::milliseconds deadline) {
  Core& core = impl_->core;
  if (core.stopped) return;
  core.stopped = true;
  core.stopping = true;
  net::post(core.acceptor.get_executor(), [&core] {
    beast::error_code ignored;
    core.acceptor.close(ignored);
    core.accept_retry.cancel();
  });
  // Every session looks at itself first (a request half received becomes in flight), and
  // only then does in_flight say what is left to wait for.
  const auto sessions = core.LiveSessions();
  {
    MutexLock lock(&core.mu);
    core.stops_pending = static_cast<int>(sessions.size());
  }
  for (auto& session : sessions) {
    net::post(session->executor(), [session, &core] {
      session->OnStop();
      MutexLock lock(&core.mu);
      if (--core.stops_pending == 0) core.idle_cv.NotifyAll();
    });
  }
  {
    MutexLock lock(&core.mu);
    const auto until = Clock::now() + deadline;
    while ((core.stops_pending > 0 || core.in_flight > 0) && Clock::now() < until) {
      core.idle_cv.WaitFor(&core.mu, until - Clock::now());
    }
  }
  core.loops.Stop();
  core.parse_pool.join();  // what it still routes finds the gate open and the loops stopped
  {
    WriterLock lock(&core.gate->mu);
    core.gate->open = false;
  }
  core.service.UseEventLoop(nullptr);  // before the loops go: the service drops its watches
  for (auto& session : core.LiveSessions()) session->ReleaseHold();
}

}  // namespace modelgrid::server
