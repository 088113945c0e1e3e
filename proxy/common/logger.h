#pragma once

// Structured logging: one JSON object per line on stdout, e.g.
//   {"time":"2026-11-21T06:12:34.123Z","level":"info","msg":"listening","address":"127.0.0.1:10000"}
// The level check is one relaxed atomic load, so disabled log lines cost nothing on the hot path.
// While the server runs, lines go to its LogSink (a writer thread), so a stalled stdout costs
// dropped lines, never a blocked event loop.

#include <atomic>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace podproxy {

class LogSink;

enum class LogLevel { kTrace = 0, kDebug, kInfo, kWarn, kError, kOff };

std::optional<LogLevel> parseLogLevel(std::string_view name);
std::string_view logLevelName(LogLevel level);

// A key and an already formatted value. Strings are quoted and escaped; numbers are not.
struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(v), quoted(true) {}
  LogField(std::string_view k, const char* v) : key(k), value(v), quoted(true) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v), quoted(true) {}
  template <typename Int>
  requires std::is_arithmetic_v<Int> LogField(std::string_view k, Int v)
      : key(k), number(std::to_string(v)), quoted(false) {}
  LogField(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), quoted(false) {}

  std::string_view key;
  std::string_view value;  // strings and booleans
  std::string number;      // formatted numbers (owned: no view into a temporary)
  bool quoted;
};

class Logger {
 public:
  static void setLevel(LogLevel level) { level_.store(level, std::memory_order_relaxed); }
  static LogLevel level() { return level_.load(std::memory_order_relaxed); }
  static bool enabled(LogLevel level) { return level >= Logger::level(); }

  // Hands one line to the sink, or without one writes it with a single write(2), so lines from
  // several threads never interleave.
  static void log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields);

  // The sink for every thread's lines from now on (nullptr: write directly again). Installed
  // before other threads start logging and removed after they stop.
  static void setSink(LogSink* sink) { sink_.store(sink, std::memory_order_release); }

  // Appends `s` to `out` as a JSON string body (no surrounding quotes).
  static void appendJsonEscaped(std::string& out, std::string_view s);

 private:
  static std::atomic<LogLevel> level_;
  static std::atomic<LogSink*> sink_;
};

}  // namespace podproxy

#define PODPROXY_LOG(LEVEL, MSG, ...)                                           \
  do {                                                                          \
    if (::podproxy::Logger::enabled(::podproxy::LogLevel::LEVEL)) {             \
      ::podproxy::Logger::log(::podproxy::LogLevel::LEVEL, MSG, {__VA_ARGS__}); \
    }                                                                           \
  } while (0)

#define LOG_TRACE(MSG, ...) PODPROXY_LOG(kTrace, MSG, __VA_ARGS__)
#define LOG_DEBUG(MSG, ...) PODPROXY_LOG(kDebug, MSG, __VA_ARGS__)
#define LOG_INFO(MSG, ...) PODPROXY_LOG(kInfo, MSG, __VA_ARGS__)
#define LOG_WARN(MSG, ...) PODPROXY_LOG(kWarn, MSG, __VA_ARGS__)
#define LOG_ERROR(MSG, ...) PODPROXY_LOG(kError, MSG, __VA_ARGS__)
