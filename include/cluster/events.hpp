/// @file
/// Event tags, named as Node names its events: worker.on(ev::exit, ...), cluster::on(ev::fork, ...).
#pragma once

namespace cluster::ev {

struct fork_t {};
struct online_t {};
struct listening_t {};
struct message_t {};
struct disconnect_t {};
struct exit_t {};
struct error_t {};
struct setup_t {};
struct data_t {};
struct end_t {};
struct close_t {};
// Pool events (beyond Node): a worker became ready / is being retired, a respawn was scheduled,
// a crash loop stopped respawning, a reload ended, a hung worker was killed, a worker was recycled.
struct ready_t {};
struct retiring_t {};
struct respawn_scheduled_t {};
struct crash_loop_t {};
struct reload_t {};
struct hang_killed_t {};
struct recycled_t {};

/// A worker was forked (Node's 'fork').
inline constexpr fork_t fork{};
/// A worker is running (Node's 'online').
inline constexpr online_t online{};
/// A server (or dgram socket) is listening (Node's 'listening').
inline constexpr listening_t listening{};
/// A message arrived, perhaps with a handle (Node's 'message').
inline constexpr message_t message{};
/// An IPC channel closed (Node's 'disconnect').
inline constexpr disconnect_t disconnect{};
/// A process ended: exit code and signal name (Node's 'exit').
inline constexpr exit_t exit{};
/// Something failed (Node's 'error').
inline constexpr error_t error{};
/// setup_primary() ran (Node's 'setup').
inline constexpr setup_t setup{};
/// Bytes were read from a stream (Node's 'data').
inline constexpr data_t data{};
/// The other side finished sending (Node's 'end').
inline constexpr end_t end{};
/// A stream, socket or server closed (Node's 'close').
inline constexpr close_t close{};
/// Pool: a worker became ready.
inline constexpr ready_t ready{};
/// Pool: a worker is being retired (in the worker too, before its disconnect).
inline constexpr retiring_t retiring{};
/// Pool: a respawn was scheduled (slot, delay).
inline constexpr respawn_scheduled_t respawn_scheduled{};
/// Pool: a crash loop stopped respawning.
inline constexpr crash_loop_t crash_loop{};
/// Pool: a reload ended (empty error_code when done).
inline constexpr reload_t reload{};
/// Pool: a worker that stopped answering heartbeats was sent SIGTERM.
inline constexpr hang_killed_t hang_killed{};
/// Pool: a worker was replaced for memory or connections.
inline constexpr recycled_t recycled{};

}  // namespace cluster::ev
