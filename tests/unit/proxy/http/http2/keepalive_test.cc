// ConnectionKeepalive on a real loop: when it pings, what counts as an answer, when it gives up.

#include "proxy/http/http2/keepalive.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "proxy/event/dispatcher.h"
#include "tests/unit/proxy/event/run_until.h"

namespace podproxy::http::http2 {
namespace {

using namespace std::chrono_literals;

using event::testing::runUntil;

struct Peer : ConnectionKeepalive::Callbacks {
  void sendKeepalivePing() override {
    ++pings;
    if (on_ping) on_ping();
  }
  void onKeepaliveTimeout() override { ++timeouts; }
  int pings = 0;
  int timeouts = 0;
  std::function<void()> on_ping;
};

TEST(ConnectionKeepalive, APingThatNothingAnswersEndsInATimeout) {
  event::Dispatcher d("test");
  Peer peer;
  ConnectionKeepalive keepalive(d, 50ms, 100ms, peer);
  runUntil(
      d, [&] { return peer.timeouts > 0; }, 5s);
  EXPECT_EQ(peer.pings, 1);
  EXPECT_EQ(peer.timeouts, 1);
  EXPECT_TRUE(d.shutdown());
}

TEST(ConnectionKeepalive, AnyInputAfterThePingIsAnAnswer) {
  event::Dispatcher d("test");
  Peer peer;
  ConnectionKeepalive keepalive(d, 50ms, 100ms, peer);
  // Not the PING's ACK: some bytes a little later (a frame that was ahead of the ACK).
  std::unique_ptr<event::Timer> reply = d.createTimer([&] { keepalive.onInput(); });
  peer.on_ping = [&] { reply->enable(20ms); };
  runUntil(
      d, [&] { return peer.pings >= 3 || peer.timeouts > 0; }, 5s);
  EXPECT_GE(peer.pings, 3);
  EXPECT_EQ(peer.timeouts, 0);
  reply.reset();
  EXPECT_TRUE(d.shutdown());
}

TEST(ConnectionKeepalive, ABusyConnectionNeverPings) {
  event::Dispatcher d("test");
  Peer peer;
  ConnectionKeepalive keepalive(d, 300ms, 100ms, peer);
  int inputs = 0;
  auto traffic = d.createTimer([&] {
    keepalive.onInput();
    ++inputs;
  });
  traffic->enableRepeating(10ms);
  // About three intervals of input, each arriving long before an interval of silence.
  runUntil(
      d, [&] { return inputs >= 100; }, 5s);
  EXPECT_GE(inputs, 100);
  EXPECT_EQ(peer.pings, 0);
  EXPECT_EQ(peer.timeouts, 0);
  traffic.reset();
  EXPECT_TRUE(d.shutdown());
}

}  // namespace
}  // namespace podproxy::http::http2
