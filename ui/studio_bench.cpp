#include "common/paths.hpp"
#include "studio_bench.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QSlider>
#include <QTemporaryDir>
#include <QTimer>

#include "guidance_panel.hpp"
#include "main_window.hpp"
#include "models_panel.hpp"
#include "train_panel.hpp"

namespace sims::ui {
namespace {

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

QJsonArray to_array(const std::vector<double>& v) {
  QJsonArray a;
  for (double x : v) a.append(std::round(x * 10) / 10);
  return a;
}

QJsonObject summary(const std::vector<double>& v) {
  if (v.empty()) return {};
  return {{"median", std::round(median(v) * 10) / 10},
          {"min", *std::min_element(v.begin(), v.end())},
          {"max", *std::max_element(v.begin(), v.end())},
          {"all", to_array(v)}};
}

double load_average() {
  QFile f("/proc/loadavg");
  if (!f.open(QIODevice::ReadOnly)) return NAN;
  return f.readAll().split(' ').value(0).toDouble();
}

// A 10 ms timer whose lateness measures how long the event loop was blocked.
class StallProbe {
 public:
  StallProbe() {
    timer_.setTimerType(Qt::PreciseTimer);
    timer_.setInterval(10);
    QObject::connect(&timer_, &QTimer::timeout, [this] {
      const double now = clock_.nsecsElapsed() / 1e6;
      if (last_ >= 0) lateness_.push_back(std::max(0.0, now - last_ - 10.0));
      last_ = now;
    });
    clock_.start();
    timer_.start();
  }
  // Starts a new phase; returns the previous phase's lateness samples.
  std::vector<double> take() {
    std::vector<double> out;
    out.swap(lateness_);
    return out;
  }

 private:
  QTimer timer_;
  QElapsedTimer clock_;
  double last_ = -1;
  std::vector<double> lateness_;
};

QJsonObject stall_summary(const std::vector<double>& v) {
  if (v.empty()) return {};
  return {{"max_ms", std::round(*std::max_element(v.begin(), v.end()) * 10) / 10},
          {"p99_ms", std::round(percentile(v, 0.99) * 10) / 10},
          {"ticks", static_cast<int>(v.size())}};
}

// Runs the event loop until pred() holds or timeout_ms pass; false on timeout.
template <class Pred>
bool pump_until(Pred pred, int timeout_ms) {
  QElapsedTimer t;
  t.start();
  while (!pred()) {
    if (t.elapsed() > timeout_ms) return false;
    // Sleeps until an event arrives (queued results, paints, the probe's 10 ms
    // timer), like the application's own event loop: polling here would take
    // a core from the sampler.
    QCoreApplication::processEvents(QEventLoop::AllEvents | QEventLoop::WaitForMoreEvents);
  }
  return true;
}

void pump_for(int ms) {
  QElapsedTimer t;
  t.start();
  pump_until([&] { return t.elapsed() >= ms; }, ms + 1000);
}

// What happened after the latest request: when its result was shown and
// when the SIMS view painted it.
struct Watch {
  MainWindow& w;
  QElapsedTimer clock;
  uint64_t after = 0;       // results with a stamp above this count
  bool want_preview = false;
  double shown_ms = -1, painted_ms = -1;
  quint64 frames_at_shown = 0;
  QMetaObject::Connection conn;

  explicit Watch(MainWindow& win) : w(win) {
    conn = QObject::connect(&w, &MainWindow::result_shown, [this](quint64 stamp, bool preview) {
      if (shown_ms >= 0 || stamp <= after || preview != want_preview) return;
      shown_ms = clock.nsecsElapsed() / 1e6;
      frames_at_shown = w.sims_view()->frames_painted();
    });
  }
  ~Watch() { QObject::disconnect(conn); }
  // Counts results newer than `newer_than` (default: anything not yet submitted).
  void arm(bool preview, uint64_t newer_than = UINT64_MAX) {
    after = newer_than == UINT64_MAX ? w.live().latest_stamp() : newer_than;
    want_preview = preview;
    shown_ms = painted_ms = -1;
    clock.start();
  }
  // Waits for the result and the frame that paints it.
  bool wait(int timeout_ms) {
    if (!pump_until([&] { return shown_ms >= 0; }, timeout_ms)) return false;
    if (!pump_until([&] { return w.sims_view()->frames_painted() > frames_at_shown; }, 5000)) return false;
    painted_ms = clock.nsecsElapsed() / 1e6;
    return true;
  }
};

}  // namespace

QJsonObject run_studio_bench(MainWindow& w, const StudioBenchOptions& o, const std::function<void(const QString&)>& log) {
  QJsonObject out;
  out["cpu_cores"] = static_cast<int>(std::thread::hardware_concurrency());
  out["load_average_start"] = load_average();
  StallProbe probe;
  Watch watch(w);
  QSlider* slider = w.guidance()->omega_slider();

  // [SECTION] 2D: release -> on screen ----------------------------------------------------
  GuidanceSettings g = w.guidance()->settings();
  g.points = 2000;
  g.steps = 32;
  g.sampler = SamplerKind::Heun;
  g.lo = 0.0;
  g.hi = std::numeric_limits<double>::infinity();
  g.compare = true;
  w.guidance()->set_settings(g);
  w.request(false);  // may be the request already in flight since start-up
  if (!pump_until([&] { return w.live().idle() && w.last_result() && w.last_result()->stamp == w.live().latest_stamp(); },
                  120000)) {
    out["error"] = "no first result from the 2D models";
    return out;
  }
  pump_for(300);
  probe.take();
  log("2D models ready; timing slider releases");
  const double omegas[] = {1.3, 0.4, 2.1, -0.6, 1.7, 0.9, 2.6, 0.1, 1.1, 2.9, -0.2, 1.5, 0.6, 2.3, -0.9, 1.9};
  std::vector<double> release, shown, compute, held;
  // One release: drag to a new omega, wait for the drag preview on screen,
  // hold the handle still for hold_ms, release; the time from the release
  // to the frame that paints the full result (0 when it was already on
  // screen: the full run starts as soon as the slider is held still).
  auto time_release = [&](int i, int hold_ms, double& on_screen) -> bool {
    const int pos = static_cast<int>(std::lround(omegas[i % 16] * 100)) + (i / 16);
    watch.arm(true);
    slider->setSliderDown(true);
    slider->setSliderPosition(pos == slider->sliderPosition() ? pos + 1 : pos);
    if (!watch.wait(30000)) return false;
    const uint64_t preview_stamp = w.last_result()->stamp;
    if (hold_ms > 0) pump_for(hold_ms);
    auto r = w.last_result();
    if (r && !r->request.preview && r->stamp > preview_stamp) {
      slider->setSliderDown(false);
      on_screen = 0;
      return true;
    }
    watch.arm(false, preview_stamp);
    slider->setSliderDown(false);  // sliderReleased: the full-quality request (or the one already running)
    if (!watch.wait(60000)) return false;
    on_screen = watch.painted_ms;
    return true;
  };
  for (int i = 0; i < o.releases; ++i) {
    double ms = 0;
    if (!time_release(i, 0, ms)) {
      out["error"] = "no drag preview or no full result after a release";
      return out;
    }
    release.push_back(ms);
    shown.push_back(watch.shown_ms);
    compute.push_back(w.last_result()->compute_seconds * 1000);
    log(QString("  release %1: omega %2 -> on screen in %3 ms (result delivered %4 ms, worker %5 ms)")
            .arg(i + 1)
            .arg(slider->value() / 100.0, 0, 'f', 2)
            .arg(ms, 0, 'f', 1)
            .arg(watch.shown_ms, 0, 'f', 1)
            .arg(compute.back(), 0, 'f', 1));
    pump_until([&] { return w.live().idle(); }, 30000);
  }
  for (int i = 0; i < o.releases / 2; ++i) {
    double ms = 0;
    if (!time_release(o.releases + i, 200, ms)) {
      out["error"] = "no full result after a held release";
      return out;
    }
    held.push_back(ms);
    log(QString("  held 200 ms, release %1: on screen %2 ms after the release").arg(i + 1).arg(ms, 0, 'f', 1));
    pump_until([&] { return w.live().idle(); }, 30000);
  }
  out["release_to_screen_ms"] = summary(release);
  out["release_to_result_ms"] = summary(shown);
  out["release_worker_compute_ms"] = summary(compute);
  out["held_200ms_release_to_screen_ms"] = summary(held);
  out["release_stall"] = stall_summary(probe.take());

  // [SECTION] 2D: previews while dragging ------------------------------------------------
  auto drag = [&](double seconds, int& moves, int& previews) {
    int shown_count = 0;
    auto c = QObject::connect(&w, &MainWindow::result_shown, [&](quint64, bool preview) { shown_count += preview; });
    QElapsedTimer t;
    t.start();
    moves = 0;
    slider->setSliderDown(true);
    while (t.elapsed() < seconds * 1000) {
      slider->setSliderPosition(-100 + (moves * 7) % 400);
      ++moves;
      const qint64 next = t.elapsed() + 16;
      pump_until([&] { return t.elapsed() >= next; }, 100);
    }
    slider->setSliderDown(false);
    QObject::disconnect(c);
    previews = shown_count;
    pump_until([&] { return w.live().idle(); }, 30000);
  };
  int moves = 0, previews = 0;
  log("dragging the omega slider at 60 Hz");
  probe.take();
  drag(o.drag_seconds, moves, previews);
  out["drag_previews_per_s"] = std::round(previews / o.drag_seconds * 10) / 10;
  out["drag_slider_moves_per_s"] = std::round(moves / o.drag_seconds * 10) / 10;
  out["drag_stall"] = stall_summary(probe.take());

  // [SECTION] Event loop while a training job runs ---------------------------------------
  {
    log("training job running; dragging meanwhile");
    QTemporaryDir dir;
    TrainPanel* t = w.train_panel();
    TrainPlan plan = t->plan();
    plan.base_budget = 50000000;  // far more than the benchmark waits for
    plan.out_dir = dir.path().toStdString();
    t->set_plan(plan);
    t->start();
    pump_for(1000);  // the job is up and reporting
    probe.take();
    int tm = 0, tp = 0;
    drag(o.train_seconds, tm, tp);
    out["training_stall"] = stall_summary(probe.take());
    out["training_drag_previews_per_s"] = std::round(tp / o.train_seconds * 10) / 10;
    bool done = false;
    auto c = QObject::connect(t, &TrainPanel::finished, [&](int) { done = true; });
    t->cancel();
    pump_until([&] { return done; }, 60000);
    QObject::disconnect(c);
    t->hide();
  }

  // [SECTION] Image models: omega change -> first preview on screen -----------------------
  const QString ib = o.image_base.isEmpty() ? QString::fromStdString(sims::asset_path("models/faces-base.ckpt")) : o.image_base;
  const QString ia = o.image_aux.isEmpty() ? QString::fromStdString(sims::asset_path("models/faces-aux.ckpt")) : o.image_aux;
  if (o.image_changes > 0 && QFile::exists(ib) && QFile::exists(ia)) {
    log("image models: timing the first preview after omega changes");
    watch.arm(true);
    QElapsedTimer load;
    load.start();
    if (!w.models()->load_pair(ib, ia) || !watch.wait(120000)) {
      out["error"] = "the image models did not load or sample";
      return out;
    }
    out["image_load_to_first_preview_ms"] = std::round(load.nsecsElapsed() / 1e5) / 10;
    probe.take();
    std::vector<double> first;
    const double image_omegas[] = {1.5, 0.5, 2.5, 1.0, 2.0, 0.0, 3.0, -0.5};
    for (int i = 0; i < o.image_changes; ++i) {
      pump_for(400);  // the full grid of the previous change is in flight
      watch.arm(true);
      slider->setValue(static_cast<int>(std::lround(image_omegas[i % 8] * 100)));  // a click or key: one full request
      if (!watch.wait(60000)) {
        out["error"] = "no image preview after an omega change";
        return out;
      }
      first.push_back(watch.painted_ms);
      log(QString("  omega %1: first preview on screen in %2 ms").arg(slider->value() / 100.0, 0, 'f', 2).arg(watch.painted_ms, 0, 'f', 1));
    }
    out["image_first_preview_ms"] = summary(first);
    if (o.image_final) {
      const uint64_t stamp = w.live().latest_stamp();
      QElapsedTimer t;
      t.start();
      const bool ok = pump_until([&] { return w.last_result() && w.last_result()->stamp == stamp && !w.last_result()->request.preview; },
                                 300000);
      if (ok) {
        out["image_full_grid_ms"] = std::round(t.nsecsElapsed() / 1e5) / 10 + first.back();
        out["image_full_grid_worker_ms"] = std::round(w.last_result()->compute_seconds * 1e4) / 10;
        log(QString("  full grid (%1 images x %2 steps) after %3 ms")
                .arg(w.last_result()->x.size(0))
                .arg(w.last_result()->request.sampler.steps)
                .arg(out["image_full_grid_ms"].toDouble(), 0, 'f', 0));
      }
    }
    out["image_stall"] = stall_summary(probe.take());
  }
  out["load_average_end"] = load_average();
  return out;
}

}  // namespace sims::ui
