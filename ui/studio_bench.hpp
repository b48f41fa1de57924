// The studio's speed benchmark (`sims-studio --bench-latency OUT.json`, run by
// bench/bench_studio.sh): drives the real window the way a user does and
// times what the user sees.
//  - release -> on screen: the omega slider is dragged to a new value and
//    released as soon as the drag preview is painted; timed from the release
//    to the first frame the SIMS view paints with the full-quality result.
//    Also with the handle held still 200 ms before the release (the full run
//    starts when the slider stops, so part of it is done by the release).
//  - previews per second while the slider moves every 16 ms (a 60 Hz drag).
//  - event-loop stalls: a 10 ms timer runs throughout; its worst lateness per
//    phase, including while a training job runs.
//  - image models: from an omega change to the first painted preview, while
//    the previous full grid is still being computed (it is cancelled).
#pragma once
#include <functional>

#include <QJsonObject>
#include <QString>

namespace sims::ui {

class MainWindow;

struct StudioBenchOptions {
  int releases = 12;             // slider releases timed (2D models)
  double drag_seconds = 3.0;     // the 60 Hz drag
  double train_seconds = 6.0;    // training job running while the slider is dragged
  int image_changes = 5;         // omega changes timed with the image models
  bool image_final = true;       // also time one full image grid after the last change
  QString image_base, image_aux; // default: the shipped faces models
};

// Runs inside the application's event loop; returns the figures as JSON.
// log(line) reports progress for people.
QJsonObject run_studio_bench(MainWindow& w, const StudioBenchOptions& o, const std::function<void(const QString&)>& log);

}  // namespace sims::ui
