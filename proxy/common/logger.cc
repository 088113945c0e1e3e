#include "proxy/common/logger.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "proxy/common/json_escape.h"
#include "proxy/common/log_sink.h"

namespace podproxy {

std::atomic<LogLevel> Logger::level_{LogLevel::kInfo};
std::atomic<LogSink*> Logger::sink_{nullptr};

namespace {
constexpr std::string_view kLevelNames[] = {"trace", "debug", "info", "warn", "error", "off"};

void appendTimestamp(std::string& out) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t secs = system_clock::to_time_t(now);
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  const int n = std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec, static_cast<int>(millis));
  out.append(buf, n);
}
}  // namespace

std::optional<LogLevel> parseLogLevel(std::string_view name) {
  for (size_t i = 0; i < std::size(kLevelNames); ++i) {
    if (kLevelNames[i] == name) return static_cast<LogLevel>(i);
  }
  if (name == "warning") return LogLevel::kWarn;
  return std::nullopt;
}

std::string_view logLevelName(LogLevel level) {
  return kLevelNames[static_cast<int>(level)];
}

void Logger::appendJsonEscaped(std::string& out, std::string_view s) {
  podproxy::appendJsonEscaped(out, s);
}

void Logger::log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  std::string line;
  line.reserve(128);
  line += "{\"time\":\"";
  appendTimestamp(line);
  line += "\",\"level\":\"";
  line += logLevelName(level);
  line += "\",\"msg\":\"";
  appendJsonEscaped(line, msg);
  line += '"';
  for (const LogField& f : fields) {
    line += ",\"";
    appendJsonEscaped(line, f.key);
    line += "\":";
    if (f.quoted) {
      line += '"';
      appendJsonEscaped(line, f.value);
      line += '"';
    } else {
      line += f.number.empty() ? f.value : std::string_view(f.number);
    }
  }
  line += "}\n";
  if (LogSink* sink = sink_.load(std::memory_order_acquire)) {
    sink->push(line);
    return;
  }
  // Best effort: a log line is never worth blocking or failing for.
  ssize_t unused = ::write(STDOUT_FILENO, line.data(), line.size());
  (void)unused;
}

}  // namespace podproxy
