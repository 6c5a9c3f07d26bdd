// Stream: a stdio pipe of a child process, on a libuv pipe.
#include "stream_impl.hpp"
#include "uv/tick.hpp"

#include "cluster/error.hpp"

#include <cstring>

namespace cluster {

Stream::Stream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) { impl_->owner = this; }

Stream::~Stream() {
  if (impl_) {
    impl_->owner = nullptr;
    impl_->pipe.close();
  }
}

int Stream::fd() const {
  if (!impl_->pipe.valid()) return -1;
  uv_os_fd_t fd = -1;
  if (uv_fileno(impl_->pipe.base(), &fd) != 0) return -1;
  return fd;
}

void Stream::resume() {
  if (!impl_->pipe.valid() || impl_->reading || impl_->ended) return;
  impl_->reading = true;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(impl_->pipe.get()),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* impl = static_cast<Impl*>(h->data);
        buf->base = impl->buf;
        buf->len = sizeof impl->buf;
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* impl = static_cast<Impl*>(s->data);
        if (!impl || !impl->owner) return;
        uv::CallbackScope scope;
        Stream* self = impl->owner;
        if (n > 0) {
          self->emit(ev::data, std::string_view(buf->base, static_cast<std::size_t>(n)));
        } else if (n == UV_EOF) {
          impl->ended = true;
          impl->reading = false;
          uv_read_stop(s);
          self->emit(ev::end);
          if (impl->owner) self->destroy();
        } else if (n < 0) {
          impl->reading = false;
          uv_read_stop(s);
          self->emit(ev::error, std::system_error(uv_error(static_cast<int>(n)), "read"));
          if (impl->owner) self->destroy();
        }
      });
}

void Stream::pause() {
  if (!impl_->pipe.valid() || !impl_->reading) return;
  impl_->reading = false;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(impl_->pipe.get()));
}

bool Stream::write(std::string_view bytes) {
  if (!impl_->pipe.valid()) return false;
  struct Req {
    uv_write_t req;
    std::string data;
  };
  auto* r = new Req{};
  r->data.assign(bytes);
  uv_buf_t buf = uv_buf_init(r->data.data(), static_cast<unsigned>(r->data.size()));
  int rc = uv_write(&r->req, reinterpret_cast<uv_stream_t*>(impl_->pipe.get()), &buf, 1,
                    [](uv_write_t* req, int) { delete reinterpret_cast<Req*>(req); });
  if (rc != 0) {
    delete r;
    return false;
  }
  return true;
}

void Stream::end() {
  if (!impl_->pipe.valid()) return;
  auto* req = new uv_shutdown_t{};
  if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(impl_->pipe.get()),
                  [](uv_shutdown_t* r, int) { delete r; }) != 0) {
    delete req;
  }
}

void Stream::destroy() {
  if (!impl_->pipe.valid()) return;
  impl_->pipe.close();
  emit(ev::close);
}

}  // namespace cluster
