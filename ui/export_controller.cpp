#include "export_controller.hpp"

#include <algorithm>
#include <vector>

#include <QApplication>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFontMetrics>
#include <QFormLayout>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QPainter>
#include <QPointer>
#include <QProgressDialog>
#include <QSettings>
#include <QSpinBox>

#include "common/error.hpp"
#include "io/atomic_file.hpp"
#include "render/animation.hpp"
#include "sampling/xy_grid.hpp"

#include "guidance_panel.hpp"
#include "live_view.hpp"
#include "message_area.hpp"
#include "models_panel.hpp"
#include "step_viewer.hpp"
#include "common/json_parse.hpp"

namespace sims::ui {
namespace {

// What produced a live result, for the captions of the exports.
render::SamplingProvenance provenance_of(const engine::LiveResult& r, const ModelsPanel* models) {
  const auto& q = r.request;
  return render::SamplingProvenance::of(models->path(ModelRole::Base).toStdString(),
                                        q.aux ? models->path(ModelRole::Aux).toStdString() : std::string(),
                                        q.guidance, q.sampler, static_cast<long long>(q.seed), r.x.size(0));
}

}  // namespace

ExportController::ExportController(QWidget* window, LiveView* live, ModelsPanel* models, GuidancePanel* guidance,
                                   MessageArea* messages, engine::JobRunner* jobs)
    : QObject(window),
      window_(window),
      live_(live),
      models_(models),
      guidance_(guidance),
      messages_(messages),
      jobs_(jobs) {}

// [SECTION] The live views ------------------------------------------------------------------

bool ExportController::export_png(const QString& path) {
  std::vector<QImage> parts;
  SampleView *base = live_->base_view(), *sims = live_->sims_view();
  const engine::LiveResultPtr last = live_->last_result();
  // What the window shows: the live result on the right (flicker stopped, so it is not the pinned one), on the
  // left the base alone or the pinned result.
  if (live_->flicker()) live_->set_flicker(false);
  const bool left = base && base->isVisible() && last && (live_->pinned() || last->base_x.defined());
  if (left) parts.push_back(base->render_image());
  parts.push_back(sims->render_image());
  int w = 0, h = 0;
  for (const auto& p : parts) w += p.width(), h = std::max(h, p.height());
  if (w == 0 || h == 0) {
    messages_->error("nothing to export yet");
    return false;
  }
  // A caption under the views: the models, ω, interval, steps, sampler and seed of the result shown.
  QString caption = last ? QString::fromStdString(provenance_of(*last, models_).caption()) : QString();
  if (left && live_->pinned())
    caption = "left: pinned " + live_->pinned_label() + " · right: " +
              (live_->difference() ? "the difference live − pinned, sample by sample, of " : QString()) + caption;
  QFont font = window_->font();
  font.setPixelSize(13);
  const QFontMetrics fm(font);
  const QRect text_box = fm.boundingRect(QRect(0, 0, w - 20, 10000), Qt::TextWordWrap, caption);
  const int caption_h = caption.isEmpty() ? 0 : text_box.height() + 14;
  QImage out(w, h + caption_h, QImage::Format_RGB32);
  out.fill(Qt::white);
  {
    QPainter p(&out);
    int x = 0;
    for (auto& part : parts) {
      part.setDevicePixelRatio(1.0);
      p.drawImage(x, 0, part);
      x += part.width();
    }
    if (caption_h > 0) {
      p.setFont(font);
      p.setPen(QColor(70, 70, 70));
      p.drawText(QRect(10, h + 7, w - 20, text_box.height()), Qt::TextWordWrap, caption);
    }
  }
  if (!out.save(path, "PNG")) {
    messages_->error("cannot write '" + path + "'");
    return false;
  }
  messages_->info("exported " + path);
  return true;
}

void ExportController::export_dialog() {
  QSettings s;
  const QString f = QFileDialog::getSaveFileName(window_, "Export view as PNG",
                                                 s.value("export/last", "sims-view.png").toString(), "PNG images (*.png)");
  if (f.isEmpty()) return;
  s.setValue("export/last", f);
  export_png(f);
}

// [SECTION] The denoising animation ---------------------------------------------------------

bool ExportController::export_animation(const QString& path, double fps) {
  const engine::LiveResultPtr last = live_->last_result();
  if (!last || last->trajectory.states.empty()) {
    messages_->error("nothing to animate yet: sample first");
    return false;
  }
  if (last->request.preview || last->refining) {
    messages_->error("the view shows a preview: export the animation once the full-quality result is shown");
    return false;
  }
  const auto& q = last->request;
  const bool guided = q.aux && q.guidance.omega != 0.0;
  const render::SamplingProvenance prov = provenance_of(*last, models_);
  const QString sims_title = !q.aux ? QString("base model") : QString("SIMS (ω = %1)").arg(q.guidance.omega);
  std::vector<render::AnimationRun> runs;
  SampleView* base_view = live_->base_view();
  const bool base_shown = base_view && base_view->isVisibleTo(live_) && last->base_x.defined() &&
                          !last->base_trajectory.states.empty();
  // Left: the pinned result when its step count agrees, else the base alone on the same noise.
  const engine::LiveResultPtr pinned = live_->pinned();
  const bool pin_fits = pinned && pinned->trajectory.states.size() == last->trajectory.states.size() &&
                        pinned->x.sizes() == last->x.sizes();
  if (pinned && !pin_fits) messages_->info("the pinned result has other steps or shapes: it is left out of the animation");
  if (pin_fits)
    runs.push_back({"pinned: " + live_->pinned_label().section(" · ", 0, 0).toStdString(), {120, 80, 170},
                    &pinned->trajectory, pinned->x});
  else if (guided && base_shown)
    runs.push_back({"base alone (ω = 0)", render::kBaseColour, &last->base_trajectory, last->base_x});
  runs.push_back({sims_title.toStdString(), q.aux ? render::kSimsColour : render::kBaseColour, &last->trajectory, last->x});
  try {
    QApplication::setOverrideCursor(Qt::WaitCursor);
    render::AnimationSpec spec =
        render::denoising_animation(runs, live_->steps()->show_denoised(), prov, q.base->info().provenance);
    spec.follow_axes = live_->steps()->follow_sigma();
    if (pin_fits) spec.caption = "left: pinned " + live_->pinned_label().toStdString() + " \u00b7 right: " + spec.caption;
    render::write_animation(path.toStdString(), render::render_animation(spec), fps);
    QApplication::restoreOverrideCursor();
  } catch (const std::exception& e) {
    QApplication::restoreOverrideCursor();
    messages_->error(QString::fromStdString(sims::error_words(e)));
    return false;
  }
  messages_->info(QString("exported the denoising (%1 steps) to %2").arg(q.sampler.steps).arg(path));
  return true;
}

void ExportController::export_animation_dialog() {
  QSettings s;
  QString selected;
  const QString f = QFileDialog::getSaveFileName(window_, "Export the denoising as an animation",
                                                 s.value("export/animation", "sims-denoising.gif").toString(),
                                                 "Animated GIF (*.gif);;Animated PNG (*.png *.apng)", &selected);
  if (f.isEmpty()) return;
  s.setValue("export/animation", f);
  export_animation(f);
}

// [SECTION] The ω × seed grid -------------------------------------------------------------

engine::JobPtr ExportController::start_grid_export(const QString& path, const QString& omegas, const QString& seeds,
                                             int64_t per_cell) {
  XYGridRequest req;
  try {
    if (!models_->base()) throw InputError("open a base model first");
    req.base = models_->base();
    req.aux = models_->aux();
    req.x = parse_xy_axis("omega=" + omegas.toStdString(), "ω values");
    req.y = parse_xy_axis("seed=" + seeds.toStdString(), "seeds");
    const GuidanceSettings gs = guidance_->settings();
    req.cfg.kind = gs.sampler;
    req.cfg.steps = gs.steps;
    req.g.lo = gs.lo;
    req.g.hi = gs.hi;
    req.n = per_cell;
    if (per_cell < 0 || per_cell > 100000) throw InputError("samples per cell must be between 1 and 100000");
    if (!req.aux) throw InputError("an ω grid needs an auxiliary model");
    io::check_writable(path.toStdString());
  } catch (const std::exception& e) {
    messages_->error(QString("grid export: %1").arg(QString::fromStdString(sims::error_words(e))));
    return nullptr;
  }
  auto* dlg = new QProgressDialog("Sampling the ω × seed grid…", "Cancel", 0, 1000, window_);
  dlg->setWindowTitle("Export grid");
  dlg->setAttribute(Qt::WA_DeleteOnClose);
  dlg->setMinimumDuration(300);
  dlg->setValue(0);
  QPointer<QProgressDialog> guard(dlg);
  const std::string out = path.toStdString();
  engine::JobCallbacks cb;
  cb.on_progress = [this, guard](const engine::JobProgress& p) {
    const int v = static_cast<int>(p.fraction * 1000);
    const QString m = QString::fromStdString(p.message);
    QMetaObject::invokeMethod(this, [guard, v, m] {
      if (guard) {
        guard->setValue(std::min(v, 999));
        guard->setLabelText(m);
      }
    }, Qt::QueuedConnection);
  };
  cb.on_done = [this, guard, path](const engine::Job& j) {
    const engine::JobState st = j.state();
    const QString err = QString::fromStdString(j.error());
    QMetaObject::invokeMethod(this, [this, guard, st, err, path] {
      if (guard) guard->close();
      if (st == engine::JobState::Finished) messages_->info("exported grid " + path);
      else if (st == engine::JobState::Cancelled) messages_->info("grid export cancelled; nothing written");
      else messages_->error("grid export failed: " + err);
    }, Qt::QueuedConnection);
  };
  engine::JobPtr job = jobs_->submit("grid", [req, out](engine::JobContext& ctx) -> std::any {
    const XYGridResult r = render_xy_grid(req, [&ctx](int done, int total) {
      ctx.progress(static_cast<double>(done) / total, "cell " + std::to_string(done) + " of " + std::to_string(total));
    }, ctx.cancel_flag());
    r.image.write_png(out);
    return r.nfe_total;
  }, cb);
  connect(dlg, &QProgressDialog::canceled, this, [job] { job->cancel(); });
  messages_->info(QString("sampling a %1 × %2 grid for %3…").arg(req.y.values.size()).arg(req.x.values.size()).arg(path));
  return job;
}

void ExportController::export_grid_dialog() {
  if (!models_->base() || !models_->aux()) {
    messages_->error("grid export: open a base and an auxiliary model first");
    return;
  }
  QSettings s;
  const GuidanceSettings gs = guidance_->settings();
  QDialog dlg(window_);
  dlg.setWindowTitle("Export ω × seed grid");
  auto* form = new QFormLayout(&dlg);
  auto* omegas = new QLineEdit(s.value("grid/omegas", "0,0.5,1,1.5,2").toString(), &dlg);
  QStringList seed_list;
  for (int k = 0; k < 4; ++k) seed_list << QString::number(gs.seed + static_cast<uint64_t>(k));
  auto* seeds = new QLineEdit(seed_list.join(","), &dlg);
  const bool images = models_->base()->info().sample_shape.size() == 3;
  auto* per_cell = new QSpinBox(&dlg);
  per_cell->setRange(1, 100000);
  per_cell->setValue(images ? 1 : 1000);
  form->addRow("ω values (columns)", omegas);
  form->addRow("seeds (rows)", seeds);
  form->addRow(images ? "images per cell" : "points per cell", per_cell);
  form->addRow(new QLabel(QString("steps %1 · %2 · guidance interval as in the live panel").arg(gs.steps)
                              .arg(gs.sampler == SamplerKind::Heun ? "Heun" : "Euler"), &dlg));
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dlg);
  form->addRow(buttons);
  connect(buttons, &QDialogButtonBox::accepted, &dlg, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, &dlg, &QDialog::reject);
  if (dlg.exec() != QDialog::Accepted) return;
  const QString f = QFileDialog::getSaveFileName(window_, "Export ω × seed grid",
                                                 s.value("grid/last", "sims-grid.png").toString(), "PNG images (*.png)");
  if (f.isEmpty()) return;
  s.setValue("grid/last", f);
  s.setValue("grid/omegas", omegas->text());
  start_grid_export(f, omegas->text(), seeds->text(), per_cell->value());
}

}  // namespace sims::ui
