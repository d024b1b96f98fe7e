#include "audit_sender.hpp"

#include <gtest/gtest.h>

#include <atomic>

namespace alter::internal {
namespace {

using namespace std::chrono_literals;

struct Recorder {
  std::vector<nlohmann::json> batches;
  std::vector<SendOutcome> script;  // consumed front to back; kSent when empty
  std::size_t calls = 0;

  BatchSender sender() {
    return [this](const std::string& body, std::chrono::milliseconds) {
      batches.push_back(nlohmann::json::parse(body));
      SendOutcome o = calls < script.size() ? script[calls] : SendOutcome::kSent;
      ++calls;
      return o;
    };
  }
  std::size_t events_in(std::size_t batch) const { return batches.at(batch)["events"].size(); }
};

AuditOptions small() {
  AuditOptions o;
  o.max_queue = 5;
  o.max_batch_events = 3;
  o.max_batch_bytes = 1 << 20;
  o.max_batch_delay = 200ms;
  o.initial_backoff = 100ms;
  o.max_backoff = 400ms;
  o.close_timeout = 1s;
  return o;
}

nlohmann::json event(int i) { return {{"n", i}}; }

TEST(AuditSender, EnqueueNeverSendsByItself) {
  common::FakeClock clock;
  Recorder rec;
  AuditSender s(small(), rec.sender(), clock, {}, 1s, /*start_thread=*/false);
  for (int i = 0; i < 3; ++i) s.enqueue(event(i));
  EXPECT_EQ(rec.calls, 0u);
  EXPECT_EQ(s.stats().queued, 3u);
}

TEST(AuditSender, CutsABatchByCount) {
  common::FakeClock clock;
  Recorder rec;
  AuditSender s(small(), rec.sender(), clock, {}, 1s, false);
  s.enqueue(event(0));
  s.enqueue(event(1));
  EXPECT_FALSE(s.run_once());  // 2 < 3 events and not old yet
  s.enqueue(event(2));
  EXPECT_TRUE(s.run_once());
  ASSERT_EQ(rec.batches.size(), 1u);
  EXPECT_EQ(rec.events_in(0), 3u);
  EXPECT_EQ(rec.batches[0]["events"][0]["n"], 0);
  EXPECT_EQ(rec.batches[0]["events"][2]["n"], 2);
  EXPECT_EQ(s.stats().sent, 3u);
}

TEST(AuditSender, CutsABatchByAge) {
  common::FakeClock clock;
  Recorder rec;
  AuditSender s(small(), rec.sender(), clock, {}, 1s, false);
  s.enqueue(event(0));
  clock.advance(199ms);
  EXPECT_FALSE(s.run_once());
  ASSERT_TRUE(s.next_due().has_value());
  EXPECT_EQ(*s.next_due() - clock.now(), 1ms);
  clock.advance(1ms);
  EXPECT_TRUE(s.run_once());
  EXPECT_EQ(rec.events_in(0), 1u);
}

TEST(AuditSender, CutsABatchByBytes) {
  common::FakeClock clock;
  Recorder rec;
  auto o = small();
  o.max_batch_events = 100;
  o.max_queue = 100;
  o.max_batch_bytes = 40;  // each event below is about 25 bytes of JSON
  AuditSender s(o, rec.sender(), clock, {}, 1s, false);
  s.enqueue({{"payload", "0123456789"}});
  EXPECT_FALSE(s.run_once());
  s.enqueue({{"payload", "abcdefghij"}});
  EXPECT_TRUE(s.run_once());
  // The bytes limit also bounds the batch: the second event did not fit with the first.
  EXPECT_EQ(rec.events_in(0), 1u);
  EXPECT_EQ(s.stats().queued, 1u);
}

TEST(AuditSender, DropsTheOldestWhenFullAndCountsIt) {
  common::FakeClock clock;
  Recorder rec;
  auto o = small();
  o.max_batch_events = 10;
  AuditSender s(o, rec.sender(), clock, {}, 1s, false);
  for (int i = 0; i < 8; ++i) s.enqueue(event(i));
  auto st = s.stats();
  EXPECT_EQ(st.enqueued, 8u);
  EXPECT_EQ(st.dropped_queue_full, 3u);
  EXPECT_EQ(st.queued, 5u);
  EXPECT_TRUE(s.flush(1s));
  ASSERT_EQ(rec.batches.size(), 1u);
  EXPECT_EQ(rec.batches[0]["events"][0]["n"], 3);  // 0, 1, 2 were the oldest
  EXPECT_EQ(rec.batches[0]["events"][4]["n"], 7);
}

TEST(AuditSender, FlushSendsEverythingRegardlessOfAge) {
  common::FakeClock clock;
  Recorder rec;
  AuditSender s(small(), rec.sender(), clock, {}, 1s, false);
  for (int i = 0; i < 5; ++i) s.enqueue(event(i));
  EXPECT_TRUE(s.flush(1s));
  ASSERT_EQ(rec.batches.size(), 2u);
  EXPECT_EQ(rec.events_in(0), 3u);
  EXPECT_EQ(rec.events_in(1), 2u);
  EXPECT_EQ(s.stats().sent, 5u);
  EXPECT_EQ(s.stats().queued, 0u);
}

TEST(AuditSender, RetriesWithExponentialBackoffThenDelivers) {
  common::FakeClock clock;
  Recorder rec;
  rec.script = {SendOutcome::kRetry, SendOutcome::kRetry, SendOutcome::kRetry, SendOutcome::kRetry};
  AuditSender s(small(), rec.sender(), clock, {}, 1s, false);
  for (int i = 0; i < 3; ++i) s.enqueue(event(i));
  EXPECT_TRUE(s.run_once());  // fails: backoff 100 ms
  EXPECT_FALSE(s.run_once());
  clock.advance(99ms);
  EXPECT_FALSE(s.run_once());
  clock.advance(1ms);
  EXPECT_TRUE(s.run_once());  // fails: backoff 200 ms
  clock.advance(199ms);
  EXPECT_FALSE(s.run_once());
  clock.advance(1ms);
  EXPECT_TRUE(s.run_once());  // fails: backoff 400 ms
  clock.advance(400ms);
  EXPECT_TRUE(s.run_once());  // fails: backoff capped at 400 ms
  clock.advance(399ms);
  EXPECT_FALSE(s.run_once());
  clock.advance(1ms);
  EXPECT_TRUE(s.run_once());  // delivered
  EXPECT_EQ(rec.calls, 5u);
  auto st = s.stats();
  EXPECT_EQ(st.retries, 4u);
  EXPECT_EQ(st.sent, 3u);
  // Every attempt carried the same events in the same order.
  for (const auto& b : rec.batches) EXPECT_EQ(b["events"][0]["n"], 0);
  // After a success the backoff starts over.
  rec.script.push_back(SendOutcome::kSent);   // index 4 was used by the delivery above
  rec.script.push_back(SendOutcome::kRetry);  // index 5
  for (int i = 0; i < 3; ++i) s.enqueue(event(10 + i));
  EXPECT_TRUE(s.run_once());
  clock.advance(100ms);
  EXPECT_TRUE(s.run_once());
  EXPECT_EQ(s.stats().sent, 6u);
}

TEST(AuditSender, RetryingBatchStillObeysTheQueueBound) {
  common::FakeClock clock;
  Recorder rec;
  rec.script = {SendOutcome::kRetry};
  AuditSender s(small(), rec.sender(), clock, {}, 1s, false);
  for (int i = 0; i < 3; ++i) s.enqueue(event(i));
  EXPECT_TRUE(s.run_once());
  for (int i = 3; i < 8; ++i) s.enqueue(event(i));
  auto st = s.stats();
  EXPECT_EQ(st.queued, 5u);
  EXPECT_EQ(st.dropped_queue_full, 3u);
  clock.advance(100ms);
  EXPECT_TRUE(s.flush(1s));
  EXPECT_EQ(rec.batches.back()["events"].back()["n"], 7);
}

TEST(AuditSender, RejectedBatchIsDroppedAndCounted) {
  common::FakeClock clock;
  Recorder rec;
  rec.script = {SendOutcome::kReject};
  AuditSender s(small(), rec.sender(), clock, {}, 1s, false);
  for (int i = 0; i < 3; ++i) s.enqueue(event(i));
  EXPECT_TRUE(s.run_once());
  auto st = s.stats();
  EXPECT_EQ(st.dropped_rejected, 3u);
  EXPECT_EQ(st.queued, 0u);
  EXPECT_EQ(st.retries, 0u);
}

TEST(AuditSender, ShutdownCountsWhatCouldNotBeSent) {
  common::FakeClock clock;
  Recorder rec;
  rec.script = {SendOutcome::kRetry};
  std::vector<std::string> logs;
  AuditSender s(small(), rec.sender(), clock, [&](LogLevel, std::string_view m) { logs.emplace_back(m); }, 1s, false);
  for (int i = 0; i < 2; ++i) s.enqueue(event(i));
  s.shutdown(1s);  // first attempt fails; the retry is not due before the deadline in manual mode
  auto st = s.stats();
  EXPECT_EQ(st.dropped_on_close, 2u);
  EXPECT_EQ(st.sent, 0u);
  s.enqueue(event(9));  // after shutdown: dropped, not queued
  EXPECT_EQ(s.stats().dropped_on_close, 3u);
  EXPECT_EQ(s.stats().queued, 0u);
  EXPECT_FALSE(logs.empty());
}

TEST(AuditSender, ThreadedFlushDeliversAndReturnsTrue) {
  Recorder rec;
  std::atomic<int> calls{0};
  auto o = small();
  o.max_batch_delay = std::chrono::hours(1);  // only flush() can make it send
  AuditSender s(o, [&](const std::string&, std::chrono::milliseconds) { ++calls; return SendOutcome::kSent; },
                common::SystemClock::instance(), {}, 1s, /*start_thread=*/true);
  s.enqueue(event(1));
  s.enqueue(event(2));
  EXPECT_TRUE(s.flush(5s));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(s.stats().sent, 2u);
  s.shutdown(1s);
  EXPECT_EQ(s.stats().dropped_on_close, 0u);
}

TEST(AuditSender, InvalidUtf8IsReplacedNotThrown) {
  common::FakeClock clock;
  Recorder rec;
  AuditSender s(small(), rec.sender(), clock, {}, 1s, false);
  EXPECT_NO_THROW(s.enqueue({{"body", std::string("\xff\xfe binary")}}));
  EXPECT_TRUE(s.flush(1s));
  EXPECT_EQ(rec.batches.size(), 1u);
}

}  // namespace
}  // namespace alter::internal
