// Event tags, named as Node names its events: worker.on(ev::exit, ...), cluster::on(ev::fork, ...).
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

inline constexpr fork_t fork{};
inline constexpr online_t online{};
inline constexpr listening_t listening{};
inline constexpr message_t message{};
inline constexpr disconnect_t disconnect{};
inline constexpr exit_t exit{};
inline constexpr error_t error{};
inline constexpr setup_t setup{};
inline constexpr data_t data{};
inline constexpr end_t end{};
inline constexpr close_t close{};
inline constexpr ready_t ready{};
inline constexpr retiring_t retiring{};
inline constexpr respawn_scheduled_t respawn_scheduled{};
inline constexpr crash_loop_t crash_loop{};
inline constexpr reload_t reload{};
inline constexpr hang_killed_t hang_killed{};
inline constexpr recycled_t recycled{};

}  // namespace cluster::ev
