/// @file
/// Typed event emitters with Node's EventEmitter semantics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace cluster {

/// Identifies a listener for off(); unique in the process.
using listener_id = std::uint64_t;

namespace detail {

/// Calls f with the longest prefix of args it accepts, so a listener may ignore trailing arguments.
template <class F, class Tuple, std::size_t... I>
constexpr bool invocable_prefix(std::index_sequence<I...>) {
  return std::is_invocable_v<F&, std::tuple_element_t<I, Tuple>...>;
}

template <std::size_t N, class F, class Tuple>
constexpr std::size_t longest_prefix() {
  if constexpr (invocable_prefix<F, Tuple>(std::make_index_sequence<N>{})) {
    return N;
  } else {
    static_assert(N > 0, "listener is not callable with this event's arguments");
    return longest_prefix<N - 1, F, Tuple>();
  }
}

template <class F, class Tuple, std::size_t... I>
void call_prefix(F& f, Tuple& args, std::index_sequence<I...>) {
  f(std::get<I>(args)...);
}

}  // namespace detail

/// One event's listeners, called in registration order. A listener removed during an emit still
/// runs in that emit and one added during it waits for the next (Node's snapshot semantics); a
/// once-listener is removed before it runs.
template <class... Args>
class Signal {
 public:
  /// A listener as stored (called with every argument).
  using Fn = std::function<void(Args...)>;

  /// Adds fn; it may take any prefix of Args.
  template <class F>
  void add(listener_id id, F&& fn, bool once) {
    using Tuple = std::tuple<Args&...>;
    constexpr std::size_t n = detail::longest_prefix<sizeof...(Args), std::decay_t<F>, Tuple>();
    auto entry = std::make_shared<Entry>();
    entry->id = id;
    entry->once = once;
    entry->fn = [f = std::forward<F>(fn)](Args... args) mutable {
      Tuple t(args...);
      detail::call_prefix(f, t, std::make_index_sequence<n>{});
    };
    writable().push_back(std::move(entry));
  }

  /// Removes the listener with this id; false if it is not here.
  bool remove(listener_id id) {
    if (!entries_) return false;
    for (std::size_t i = 0; i < entries_->size(); ++i) {
      if ((*entries_)[i]->id == id) {
        auto& list = writable();
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
        return true;
      }
    }
    return false;
  }

  /// Calls every listener registered when the emit starts.
  void emit(Args... args) {
    if (!entries_ || entries_->empty()) return;
    // The list is copy-on-write: holding it here makes any add/remove during the emit copy it,
    // which gives Node's snapshot semantics without a copy per emit.
    auto snapshot = entries_;
    for (const auto& e : *snapshot) {
      if (e->once) {
        if (e->fired) continue;
        e->fired = true;
        remove(e->id);
      }
      e->fn(args...);
    }
  }

  /// The number of listeners.
  std::size_t size() const noexcept { return entries_ ? entries_->size() : 0; }
  /// Removes every listener.
  void clear() noexcept { entries_.reset(); }

 private:
  struct Entry {
    listener_id id = 0;
    bool once = false;
    bool fired = false;
    Fn fn;
  };
  using List = std::vector<std::shared_ptr<Entry>>;

  List& writable() {
    if (!entries_) {
      entries_ = std::make_shared<List>();
    } else if (entries_.use_count() > 1) {
      entries_ = std::make_shared<List>(*entries_);  // an emit is iterating the old one
    }
    return *entries_;
  }

  std::shared_ptr<List> entries_;
};

/// Declares that Tag's listeners are called with Args.
template <class Tag, class... Args>
struct Event {
  using tag = Tag;                      ///< the event's tag type
  using signal_type = Signal<Args...>;  ///< its listener list
};

namespace detail {
template <class Tag, std::size_t I, class... Events>
struct index_of;
template <class Tag, std::size_t I, class First, class... Rest>
struct index_of<Tag, I, First, Rest...> {
  static constexpr std::size_t value = std::is_same_v<Tag, typename First::tag>
                                           ? I
                                           : index_of<Tag, I + 1, Rest...>::value;
};
template <class Tag, std::size_t I>
struct index_of<Tag, I> {
  static constexpr std::size_t value = I;
};
}  // namespace detail

/// An object that emits the Events it declares: on/once/off as Node's on/once/removeListener.
template <class... Events>
class Emitter {
 public:
  /// Adds a listener for tag's event; returns the id off() takes.
  template <class Tag, class F>
  listener_id on(Tag, F&& fn) {
    listener_id id = next_id();
    signal<Tag>().add(id, std::forward<F>(fn), false);
    return id;
  }
  /// Adds a listener that runs at most once.
  template <class Tag, class F>
  listener_id once(Tag, F&& fn) {
    listener_id id = next_id();
    signal<Tag>().add(id, std::forward<F>(fn), true);
    return id;
  }
  /// Removes a listener; false if no event of this emitter has it.
  bool off(listener_id id) {
    return std::apply([id](auto&... s) { return (s.remove(id) || ...); }, signals_);
  }
  /// How many listeners tag's event has.
  template <class Tag>
  std::size_t listener_count(Tag) const {
    return std::get<index<Tag>()>(signals_).size();
  }
  /// Removes every listener of every event.
  void remove_all_listeners() {
    std::apply([](auto&... s) { (s.clear(), ...); }, signals_);
  }

  /// Calls tag's listeners with args (used by the library; public so composition stays simple).
  template <class Tag, class... A>
  void emit(Tag, A&&... args) {
    signal<Tag>().emit(std::forward<A>(args)...);
  }

 private:
  template <class Tag>
  static constexpr std::size_t index() {
    constexpr std::size_t i = detail::index_of<Tag, 0, Events...>::value;
    static_assert(i < sizeof...(Events), "this emitter has no such event");
    return i;
  }
  template <class Tag>
  auto& signal() {
    return std::get<index<Tag>()>(signals_);
  }
  static listener_id next_id() {
    static listener_id counter = 0;
    return ++counter;
  }
  std::tuple<typename Events::signal_type...> signals_;
};

/// Removes a listener when it goes out of scope.
template <class E>
class scoped_listener {
 public:
  scoped_listener() = default;
  /// Removes listener id from emitter when this goes out of scope.
  scoped_listener(E& emitter, listener_id id) : emitter_(&emitter), id_(id) {}
  /// Takes over o's listener; o then removes nothing.
  scoped_listener(scoped_listener&& o) noexcept : emitter_(o.emitter_), id_(o.id_) { o.emitter_ = nullptr; }
  /// Removes the listener held here, then takes over o's.
  scoped_listener& operator=(scoped_listener&& o) noexcept {
    if (this != &o) {
      reset();
      emitter_ = o.emitter_;
      id_ = o.id_;
      o.emitter_ = nullptr;
    }
    return *this;
  }
  ~scoped_listener() { reset(); }
  /// Removes the listener now (once; later calls do nothing).
  void reset() {
    if (emitter_) emitter_->off(id_);
    emitter_ = nullptr;
  }

 private:
  E* emitter_ = nullptr;
  listener_id id_ = 0;
};

}  // namespace cluster
