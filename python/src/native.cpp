// alter_sdk._native: the C++ SDK (alter::Vault) for the Python layer in alter_sdk/.
//
// Every call into the SDK runs with the GIL released. A request is started with the SDK's
// callback-style request_async: the SDK's thread reports to a Python callable (taking the GIL for
// that moment only), which hands the outcome to the caller's event loop. Nothing here holds a
// token: the SDK keeps it internal; the API key goes into the SDK and is not kept here.
#include <alter/alter.hpp>
#include <alter/version.hpp>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

// After the interpreter started finalizing, a thread that takes the GIL is ended on the spot: the
// SDK's threads must then leave Python alone (the package closes every vault at exit before that).
bool python_alive() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsInitialized() && !Py_IsFinalizing();
#else
  return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

// A Python object held by C++ code that may let go of it on any thread.
class HeldObject {
 public:
  explicit HeldObject(py::object object) : object_(std::move(object)) {}
  HeldObject(const HeldObject&) = delete;
  HeldObject& operator=(const HeldObject&) = delete;
  ~HeldObject() {
    if (!object_) return;
    if (python_alive()) {
      py::gil_scoped_acquire gil;
      object_ = py::object();
    } else {
      (void)object_.release();  // the interpreter is going away: leaking beats crashing
    }
  }
  /// Calls the object with the GIL held (errors reported as unraisable), keeping it.
  template <typename Make>
  void call(Make make_args) {
    if (!python_alive()) return;
    py::gil_scoped_acquire gil;
    if (!object_) return;
    invoke(object_, make_args, [] { return py::tuple(); });
  }
  /// Calls the object with the GIL held and lets go of it. Errors raised by the call are reported
  /// as unraisable (they have nowhere else to go on an SDK thread).
  template <typename Make>
  void call_once(Make make_args) {
    if (!python_alive()) return;
    py::gil_scoped_acquire gil;
    py::object fn = std::move(object_);
    if (!fn) return;
    invoke(fn, make_args, [] {
      // The outcome could not be converted: the waiter still gets an answer, never silence.
      py::dict d;
      d["kind"] = "sdk";
      d["message"] = "internal error: the SDK's answer could not be converted to Python objects";
      d["details"] = "{}";
      return py::make_tuple(py::none(), d);
    });
    fn = py::object();
  }

 private:
  // Calls fn(*make_args()); when the arguments cannot be made, fn(*fallback()) (if not empty).
  template <typename Make, typename Fallback>
  static void invoke(const py::object& fn, Make& make_args, Fallback fallback) {
    py::tuple args;
    try {
      args = make_args();
    } catch (py::error_already_set& e) {
      e.discard_as_unraisable("alter_sdk: converting the SDK's answer");
      args = fallback();
    } catch (const std::exception&) {
      args = fallback();
    }
    if (py::len(args) == 0) return;  // nothing to say (the logger's fallback)
    try {
      fn(*args);
    } catch (py::error_already_set& e) {
      e.discard_as_unraisable("alter_sdk: a callback from the SDK");
    } catch (...) {
      // Nothing may escape onto an SDK thread (it would end the process).
    }
  }

  py::object object_;
};

// Raised by Vault() with the dict of error_dict(): alter_sdk turns it into its exception classes.
PyObject* native_error = nullptr;

py::bytes to_bytes(const std::string& s) { return py::bytes(s.data(), s.size()); }

// Text from the SDK (messages, codes, URLs): UTF-8, with any invalid byte replaced, never an error.
py::str text(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

// A header name or value: UTF-8 when it is, else ISO-8859-1 (what HTTP/1.1 allowed), as httpx does.
py::str header_text(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "strict");
  if (o == nullptr) {
    PyErr_Clear();
    o = PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), "strict");
    if (o == nullptr) throw py::error_already_set();
  }
  return py::reinterpret_steal<py::str>(o);
}

// (status_code, [(name, value), ...], body, url, request_id, elapsed_ms, http_version)
py::tuple response_tuple(const alter::Response& r) {
  py::list headers;
  for (const auto& [name, value] : r.headers()) headers.append(py::make_tuple(header_text(name), header_text(value)));
  return py::make_tuple(r.status_code(), std::move(headers), to_bytes(r.text()), text(r.url()), text(r.request_id()),
                        r.elapsed().count(), r.http_version());
}

// The SDK's exception as a dict the Python layer turns into alter_sdk.exceptions' classes.
py::dict error_dict(std::exception_ptr error) {
  py::dict d;
  try {
    std::rethrow_exception(error);
  } catch (const alter::AlterSDKError& e) {
    d["message"] = text(e.message());
    d["details"] = e.details().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (const auto* x = dynamic_cast<const alter::TokenRetrievalError*>(&e)) {
      d["status"] = x->status();
      d["error_code"] = text(x->error_code());
    }
    if (const auto* x = dynamic_cast<const alter::ApprovalRequiredError*>(&e)) {
      d["kind"] = "approval_required";
      d["approval_id"] = text(x->approval_id());
      d["approval_url"] = text(x->approval_url());
    } else if (const auto* p = dynamic_cast<const alter::PolicyViolationError*>(&e)) {
      d["kind"] = "policy_violation";
      d["policy_error"] = text(p->policy_error());
    } else if (dynamic_cast<const alter::ConnectionNotFoundError*>(&e) != nullptr) {
      d["kind"] = "connection_not_found";
    } else if (const auto* t = dynamic_cast<const alter::TokenExpiredError*>(&e)) {
      d["kind"] = "token_expired";
      d["connection_id"] = text(t->connection_id());
    } else if (dynamic_cast<const alter::TokenRetrievalError*>(&e) != nullptr) {
      d["kind"] = "token_retrieval";
    } else if (dynamic_cast<const alter::TimeoutError*>(&e) != nullptr) {
      d["kind"] = "timeout";
    } else if (dynamic_cast<const alter::NetworkError*>(&e) != nullptr) {
      d["kind"] = "network";
    } else if (const auto* pa = dynamic_cast<const alter::ProviderAPIError*>(&e)) {
      d["kind"] = "provider_api";
      d["status_code"] = pa->status_code();
      d["response_body"] = to_bytes(pa->response_body());
    } else {
      d["kind"] = "sdk";
    }
  } catch (const std::exception& e) {
    d["kind"] = "sdk";
    d["message"] = text(std::string("internal error: ") + e.what());
    d["details"] = "{}";
  } catch (...) {
    d["kind"] = "sdk";
    d["message"] = "internal error";
    d["details"] = "{}";
  }
  return d;
}

std::optional<alter::HttpMethod> parse_method(const std::string& name) {
  for (auto m : {alter::HttpMethod::Get, alter::HttpMethod::Post, alter::HttpMethod::Put, alter::HttpMethod::Patch,
                 alter::HttpMethod::Delete, alter::HttpMethod::Head, alter::HttpMethod::Options}) {
    if (alter::to_string(m) == name) return m;
  }
  return std::nullopt;
}

// Seconds from Python (checked there to be finite and at most 10^6) to milliseconds, clamped so that
// no value can overflow the conversion, and rounded up so that a positive value stays positive.
std::chrono::milliseconds to_ms(double seconds) {
  if (!(seconds > 0)) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(static_cast<long long>(std::ceil(std::min(seconds, 1e6) * 1000.0)));
}

// Vaults Python let go of without closing them: each is closed on a thread of its own (closing
// waits for requests in flight and the audit flush, which must not stall whatever thread dropped
// the last reference: an event loop's, or an SDK thread's). join_closers() waits for them at exit.
class Closers {
 public:
  static Closers& instance() {
    static auto* closers = new Closers;  // never destroyed: threads may outlive static destruction
    return *closers;
  }
  void close_later(std::unique_ptr<alter::Vault> vault) {
    std::lock_guard lock(mu_);
    threads_.emplace_back([v = std::move(vault)]() mutable { v.reset(); });
  }
  void join_all() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }
  /// In a child after fork(): those threads are not in this process; forget them unjoined.
  void forget_all() {
    auto* leaked = new std::vector<std::thread>;
    leaked->swap(threads_);
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

// One alter::Vault. Closing it (explicitly, or when Python lets go of it) waits for the requests
// in flight and the audit flush, so it runs without the GIL: the requests' callbacks need it.
class NativeVault {
 public:
  NativeVault(alter::VaultOptions options) {
    py::gil_scoped_release nogil;
    vault_ = std::make_unique<alter::Vault>(std::move(options));
  }
  NativeVault(const NativeVault&) = delete;
  NativeVault& operator=(const NativeVault&) = delete;
  ~NativeVault() {
    if (!vault_) return;
    if (vault_->closed()) {
      vault_.reset();  // nothing left to wait for
      return;
    }
    try {
      Closers::instance().close_later(std::move(vault_));
    } catch (...) {
      // No thread to spare: close here, without the GIL the requests' callbacks need.
      if (!vault_) return;
      if (PyGILState_Check() != 0) {
        py::gil_scoped_release nogil;
        vault_.reset();
      } else {
        vault_.reset();
      }
    }
  }

  /// In a child after fork(): the SDK's threads do not exist here, so the Vault can be neither used
  /// nor closed (that would wait for them forever). Its memory is left as it is.
  void abandon() { (void)vault_.release(); }

  // Starts one request; `done(response_tuple | None, error_dict | None)` runs once, on an SDK
  // thread, or here when the request cannot start.
  alter::AsyncRequest request(bool proxy, const std::string& provider, const std::string& method_name,
                              std::string url, alter::RequestOptions options, py::object done) {
    auto held = std::make_shared<HeldObject>(std::move(done));
    alter::ResponseCallback callback = [held](std::optional<alter::Response> response, std::exception_ptr error) {
      held->call_once([&] {
        return response ? py::tuple(py::make_tuple(response_tuple(*response), py::none()))
                        : py::tuple(py::make_tuple(py::none(), error_dict(error)));
      });
    };
    const auto method = parse_method(method_name);
    py::gil_scoped_release nogil;
    try {
      if (!vault_) throw alter::AlterSDKError("the AlterVault is closed: request() after close()");
      if (!method) throw alter::AlterSDKError("unknown HTTP method '" + method_name + "'");
      return proxy ? vault_->proxy_request_async(provider, *method, std::move(url), std::move(options), callback)
                   : vault_->request_async(provider, *method, std::move(url), std::move(options), callback);
    } catch (...) {
      callback(std::nullopt, std::current_exception());
      return {};
    }
  }

  void close() {
    if (!vault_) return;
    py::gil_scoped_release nogil;
    vault_->close();
  }
  bool closed() const { return !vault_ || vault_->closed(); }
  bool flush(double seconds) {
    py::gil_scoped_release nogil;
    return !vault_ || vault_->flush(to_ms(seconds));
  }
  py::dict audit_stats() const {
    alter::AuditStats s;
    {
      py::gil_scoped_release nogil;
      if (vault_) s = vault_->audit_stats();
    }
    py::dict d;
    d["enqueued"] = s.enqueued;
    d["sent"] = s.sent;
    d["dropped_queue_full"] = s.dropped_queue_full;
    d["dropped_rejected"] = s.dropped_rejected;
    d["dropped_on_close"] = s.dropped_on_close;
    d["retries"] = s.retries;
    d["queued"] = s.queued;
    return d;
  }
  std::string base_url() const { return vault_ ? vault_->base_url() : std::string(); }

 private:
  std::unique_ptr<alter::Vault> vault_;
};

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "The C++ Alter Vault SDK, for alter_sdk (use alter_sdk.AlterVault, not this module).";
  m.attr("version") = alter::kSdkVersion;
  native_error = PyErr_NewException("alter_sdk._native.Error", nullptr, nullptr);
  m.attr("Error") = py::reinterpret_borrow<py::object>(native_error);
  m.attr("protocol_version") = alter::kProtocolVersion;
  py::list providers;
  for (int i = 0; i <= static_cast<int>(alter::Provider::AwsS3); ++i) {
    providers.append(std::string(alter::to_string(static_cast<alter::Provider>(i))));
  }
  m.attr("provider_ids") = py::tuple(providers);

  m.def(
      "join_closers", [] {
        py::gil_scoped_release nogil;
        Closers::instance().join_all();
      },
      "Waits for the vaults being closed after Python let go of them unclosed.");
  m.def(
      "after_fork_in_child", [] { Closers::instance().forget_all(); },
      "In a child after fork(): the closers' threads are the parent's; forget them.");

  py::class_<alter::AsyncRequest>(m, "AsyncRequest")
      .def("cancel", &alter::AsyncRequest::cancel, "Do not send the request if it has not started.");

  py::class_<NativeVault>(m, "Vault")
      .def(py::init([](std::string api_key, std::string base_url, double timeout, std::string actor_type,
                       std::string actor_identifier, std::string actor_name, std::string actor_version,
                       std::string framework, std::string client_type, std::string ca_file, bool always_proxy,
                       std::size_t async_threads, py::object log) {
             alter::VaultOptions o;
             o.api_key = std::move(api_key);
             o.base_url = std::move(base_url);
             o.timeout = to_ms(timeout);
             o.actor_type = std::move(actor_type);
             o.actor_identifier = std::move(actor_identifier);
             o.actor_name = std::move(actor_name);
             o.actor_version = std::move(actor_version);
             o.framework = std::move(framework);
             o.client_type = std::move(client_type);
             o.ca_file = std::move(ca_file);
             o.always_proxy = always_proxy;
             if (async_threads > 0) o.async_threads = async_threads;
             if (!log.is_none()) {
               // The SDK's diagnostics (never a token or the key), to Python's logging, from SDK threads.
               auto held = std::make_shared<HeldObject>(std::move(log));
               o.logger = [held](alter::LogLevel level, std::string_view message) {
                 held->call([&] { return py::make_tuple(static_cast<int>(level), text(std::string(message))); });
               };
             }
             try {
               return std::make_unique<NativeVault>(std::move(o));
             } catch (...) {
               // The Python layer raises it as one of alter_sdk.exceptions' classes.
               py::dict d = error_dict(std::current_exception());
               PyErr_SetObject(native_error, d.ptr());
               throw py::error_already_set();
             }
           }),
           py::arg("api_key"), py::arg("base_url"), py::arg("timeout"), py::arg("actor_type"),
           py::arg("actor_identifier"), py::arg("actor_name"), py::arg("actor_version"), py::arg("framework"),
           py::arg("client_type"), py::arg("ca_file"), py::arg("always_proxy"), py::arg("async_threads"),
           py::arg("log"))
      .def(
          "request",
          [](NativeVault& v, bool proxy, const std::string& provider, const std::string& method, std::string url,
             std::map<std::string, std::string> user, std::map<std::string, std::string> path_params,
             std::map<std::string, std::string> query_params, std::map<std::string, std::string> extra_headers,
             std::optional<py::bytes> body, std::string content_type, std::string reason, std::string run_id,
             std::string thread_id, std::string tool_call_id, std::optional<double> timeout,
             std::optional<double> wait_for_approval, py::object done) {
            alter::RequestOptions o;
            o.user = std::move(user);
            o.path_params = std::move(path_params);
            o.query_params = std::move(query_params);
            o.extra_headers = std::move(extra_headers);
            if (body) o.body = std::string(*body);
            o.content_type = std::move(content_type);
            o.reason = std::move(reason);
            o.run_id = std::move(run_id);
            o.thread_id = std::move(thread_id);
            o.tool_call_id = std::move(tool_call_id);
            if (timeout) o.timeout = to_ms(*timeout);
            if (wait_for_approval) o.wait_for_approval = to_ms(*wait_for_approval);
            return v.request(proxy, provider, method, std::move(url), std::move(o), std::move(done));
          },
          py::arg("proxy"), py::arg("provider"), py::arg("method"), py::arg("url"), py::arg("user"),
          py::arg("path_params"), py::arg("query_params"), py::arg("extra_headers"), py::arg("body"),
          py::arg("content_type"), py::arg("reason"), py::arg("run_id"), py::arg("thread_id"),
          py::arg("tool_call_id"), py::arg("timeout"), py::arg("wait_for_approval"), py::arg("done"))
      .def("close", &NativeVault::close)
      .def("abandon", &NativeVault::abandon)
      .def_property_readonly("closed", &NativeVault::closed)
      .def("flush", &NativeVault::flush, py::arg("timeout"))
      .def("audit_stats", &NativeVault::audit_stats)
      .def_property_readonly("base_url", &NativeVault::base_url);
}
