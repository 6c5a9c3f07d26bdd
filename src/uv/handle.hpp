// Ownership of libuv handles: the owner's destructor calls uv_close and the close callback frees
// the memory, which is libuv's rule made a type.
#pragma once

#include <uv.h>

#include <utility>

namespace cluster::uv {

// The process's one event loop (libuv's default loop, as Node uses).
uv_loop_t* loop() noexcept;

template <class T>
class Handle {
 public:
  Handle() : h_(new T{}) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)), live_(std::exchange(o.live_, false)) {}
  ~Handle() { close(); }

  T* get() const noexcept { return h_; }
  uv_handle_t* base() const noexcept { return reinterpret_cast<uv_handle_t*>(h_); }
  // Records that a uv_*_init succeeded, so close() must go through uv_close.
  void initialized() noexcept { live_ = true; }
  bool valid() const noexcept { return h_ != nullptr && live_; }

  // Closes the handle; its memory is freed by the close callback. Safe to call twice.
  void close() noexcept {
    if (!h_) return;
    if (live_) {
      base()->data = nullptr;
      if (!uv_is_closing(base())) {
        uv_close(base(), [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
      }
    } else {
      delete h_;
    }
    h_ = nullptr;
    live_ = false;
  }

 private:
  T* h_;
  bool live_ = false;
};

}  // namespace cluster::uv
