// The studio's exports: the live views (base | SIMS) as one PNG, the
// denoising as an animated GIF/PNG (the core's renderer, as `sims sample
// --animation`), and the
// ω × seed grid of the loaded models (sampled as a background job with a
// cancellable progress dialog, the same code as `sims grid`, written
// atomically). Dialogs remember their last files in QSettings.
#pragma once
#include <QObject>

#include "engine/job_runner.hpp"

class QWidget;

namespace sims::ui {

class GuidancePanel;
class LiveView;
class MessageArea;
class ModelsPanel;

class ExportController final : public QObject {
  Q_OBJECT
 public:
  // window: the dialogs' parent; jobs: runs the grid export.
  ExportController(QWidget* window, LiveView* live, ModelsPanel* models, GuidancePanel* guidance, MessageArea* messages,
                   engine::JobRunner* jobs);

  // The views shown (base | SIMS) as one PNG; false (and a message) on failure.
  bool export_png(const QString& path);
  // "Export ω × seed grid…" without the dialogs: samples the loaded models on
  // a labelled grid (columns ω = omegas, rows seeds, the live panel's steps,
  // sampler and interval) as a background job with a cancellable progress
  // dialog, and writes the PNG atomically. nullptr (and a message) when the
  // input is bad; the job otherwise (tests wait on it).
  // The denoising of the result shown, one frame per step (base alone | SIMS when both are shown, x_t or D as
  // the step viewer shows, axes following σ when it does), as .gif or animated .png; false (and a message)
  // when there is nothing full-quality to animate or the file cannot be written.
  bool export_animation(const QString& path, double fps = 6.0);
  engine::JobPtr start_grid_export(const QString& path, const QString& omegas, const QString& seeds, int64_t per_cell);

 public Q_SLOTS:
  void export_dialog();
  void export_grid_dialog();
  void export_animation_dialog();

 private:
  QWidget* window_;
  LiveView* live_;
  ModelsPanel* models_;
  GuidancePanel* guidance_;
  MessageArea* messages_;
  engine::JobRunner* jobs_;
};

}  // namespace sims::ui
