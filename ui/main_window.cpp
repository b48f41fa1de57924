#include "common/paths.hpp"
#include "main_window.hpp"

#include <algorithm>
#include <cmath>

#include <QApplication>
#include <QSpinBox>
#include <QLineEdit>
#include <QDialogButtonBox>
#include <QDialog>
#include <QFormLayout>
#include <QPointer>
#include <QProgressDialog>
#include <QCloseEvent>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QPainter>
#include <QScrollArea>
#include <QSettings>
#include <QSlider>
#include <QScrollBar>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include <ATen/ATen.h>

#include "common/error.hpp"
#include "io/atomic_file.hpp"
#include "sampling/xy_grid.hpp"

#include "guidance_panel.hpp"
#include "interval_bar.hpp"
#include "message_area.hpp"
#include "models_panel.hpp"
#include "point_view.hpp"
#include "step_viewer.hpp"
#include "sweep_view.hpp"
#include "loop_view.hpp"
#include "shift_view.hpp"
#include "train_panel.hpp"

namespace sims::ui {
namespace {

const QColor kBaseColour(60, 100, 170);
const QColor kSimsColour(214, 82, 48);
const int kTrails = 14;

// Same full-quality work (models, guidance, sampler, points, seed, comparison).
bool same_live_request(const engine::LiveRequest& a, const engine::LiveRequest& b) {
  const SamplerConfig &x = a.sampler, &y = b.sampler;
  return a.base == b.base && a.aux == b.aux && a.guidance.omega == b.guidance.omega && a.guidance.lo == b.guidance.lo &&
         a.guidance.hi == b.guidance.hi && x.kind == y.kind && x.steps == y.steps && x.sigma_min == y.sigma_min &&
         x.sigma_max == y.sigma_max && x.rho == y.rho && x.churn == y.churn && a.n == b.n && a.seed == b.seed &&
         a.compare_base == b.compare_base && a.preview == b.preview && a.refine == b.refine;
}

SampleSet to_set(const at::Tensor& t) {
  SampleSet s;
  if (!t.defined() || t.dim() < 1) return s;
  at::Tensor f = t.to(at::kFloat).contiguous();
  s.shape.assign(f.sizes().begin() + 1, f.sizes().end());
  s.data.assign(f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
  return s;
}

// The samples of step k (k = N: final) of a trajectory, as state or denoised estimate.
at::Tensor at_step(const at::Tensor& final_x, const Trajectory& tr, int k, bool denoised) {
  const int N = static_cast<int>(tr.states.size()) - 1;
  if (N < 1 || k >= N) return final_x;
  if (denoised && k < static_cast<int>(tr.denoised.size())) return tr.denoised[k];
  return tr.states[k];
}

std::vector<std::vector<QPointF>> trails_of(const Trajectory& tr, int count) {
  std::vector<std::vector<QPointF>> out;
  if (tr.states.empty() || tr.states[0].dim() != 2 || tr.states[0].size(1) != 2) return out;
  const int64_t n = std::min<int64_t>(count, tr.states[0].size(0));
  // Spread the chosen points over the set rather than the first rows.
  const int64_t stride = std::max<int64_t>(1, tr.states[0].size(0) / std::max<int64_t>(n, 1));
  out.resize(n);
  for (const at::Tensor& s : tr.states) {
    at::Tensor rows = s.index({at::arange(0, n * stride, stride)}).to(at::kDouble).contiguous();
    const double* p = rows.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i) out[i].emplace_back(p[2 * i], p[2 * i + 1]);
  }
  return out;
}

}  // namespace

QString shipped_model(const char* role) {
  return QString::fromStdString(sims::asset_path("models/grid25-")) + role + ".ckpt";
}

// [SECTION] Construction --------------------------------------------------------------

MainWindow::MainWindow(const StudioOptions& opts, QWidget* parent) : QMainWindow(parent), opts_(opts) {
  setWindowTitle("SIMS Studio");
  jobs_ = std::make_unique<engine::JobRunner>();
  // Worker -> UI thread: results and errors are queued onto this window.
  live_ = std::make_unique<engine::LiveSampler>(
      [this](engine::LiveResultPtr r) { QMetaObject::invokeMethod(this, [this, r] { on_result(r); }, Qt::QueuedConnection); },
      [this](uint64_t stamp, const std::string& msg) {
        const QString m = QString::fromStdString(msg);
        QMetaObject::invokeMethod(this, [this, m, stamp] {
          if (stamp == preview_stamp_) preview_stamp_ = 0, preview_wanted_ = false;
          if (stamp == full_stamp_) full_stamp_ = 0;  // a retry of the same request runs again
          messages_->error("sampling: " + m);
          status_->setText("sampling failed");
          guidance_->set_status("sampling failed (see the messages below)", false);
        }, Qt::QueuedConnection);
      });

  messages_ = new MessageArea(this);
  messages_->setObjectName("messages");
  models_ = new ModelsPanel(messages_, this);
  guidance_ = new GuidancePanel(this);
  steps_ = new StepViewer(this);

  auto* left = new QWidget(this);
  auto* lv = new QVBoxLayout(left);
  lv->setContentsMargins(6, 6, 6, 6);
  lv->addWidget(models_);
  lv->addWidget(guidance_);
  lv->addStretch(1);
  auto* scroll = new QScrollArea(this);
  scroll->setWidget(left);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  // Wide enough for the panel's own widgets (the ω readout, the interval
  // mode box, the spin boxes): a wide analysis tab must not squeeze them.
  left->adjustSize();
  scroll->setMinimumWidth(std::max(380, left->minimumSizeHint().width() + scroll->verticalScrollBar()->sizeHint().width() + 4));
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);

  views_ = new QSplitter(Qt::Horizontal, this);
  views_->setChildrenCollapsible(false);
  auto* right = new QWidget(this);
  auto* rv = new QVBoxLayout(right);
  rv->setContentsMargins(0, 6, 6, 0);
  rv->addWidget(views_, 1);
  rv->addWidget(steps_);

  // Analysis tabs beside the live view; they use the loaded models and report here.
  tabs_ = new QTabWidget(this);
  tabs_->setObjectName("mainTabs");
  tabs_->setDocumentMode(true);
  tabs_->addTab(right, "Live");
  sweep_ = new SweepView(models_, messages_, this);
  sweep_->setObjectName("sweepView");
  tabs_->addTab(sweep_, "Sweep");
  loops_ = new LoopView(messages_, this);
  loops_->setObjectName("loopView");
  tabs_->addTab(loops_, "Loops");
  shift_ = new ShiftView(messages_, this);
  shift_->setObjectName("shiftView");
  tabs_->addTab(shift_, "Shift");

  auto* top = new QSplitter(Qt::Horizontal, this);
  top->addWidget(scroll);
  top->addWidget(tabs_);
  top->setStretchFactor(1, 1);
  auto* vertical = new QSplitter(Qt::Vertical, this);
  vertical->addWidget(top);
  vertical->addWidget(messages_);
  vertical->setStretchFactor(0, 1);
  vertical->setSizes({800, 110});
  setCentralWidget(vertical);
  ensure_views({2});

  status_ = new QLabel(this);
  status_->setObjectName("statusText");
  statusBar()->addWidget(status_, 1);

  auto* file = menuBar()->addMenu("&File");
  file->addAction("Open &base model…", this, [this] { models_->open_dialog(ModelRole::Base); });
  file->addAction("Open &auxiliary model…", this, [this] { models_->open_dialog(ModelRole::Aux); });
  file->addSeparator();
  file->addAction("&Open session…", QKeySequence::Open, this, &MainWindow::open_session_dialog);
  file->addAction("&Save session…", QKeySequence::Save, this, &MainWindow::save_session_dialog);
  recent_menu_ = file->addMenu("Open &recent");
  recent_menu_->setObjectName("recentMenu");
  file->addSeparator();
  file->addAction("&Export view as PNG…", QKeySequence("Ctrl+E"), this, &MainWindow::export_dialog);
  file->addAction("Export ω × seed &grid…", QKeySequence("Ctrl+G"), this, &MainWindow::export_grid_dialog);
  file->addSeparator();
  file->addAction("&Quit", QKeySequence::Quit, this, &QWidget::close);
  auto* tools = menuBar()->addMenu("&Tools");
  tools->addAction("&Train models…", QKeySequence("Ctrl+T"), this, &MainWindow::open_train);
  auto* help = menuBar()->addMenu("&Help");
  help->addAction("&About", this, [this] {
    QMessageBox::about(this, "SIMS Studio",
                       QString("<b>SIMS Studio %1</b><p>Self-improving diffusion models: sample with "
                               "D = (1+ω)·D_base − ω·D_aux inside a guidance interval of σ.</p>"
                               "<p>Point renderer: %2</p>").arg(SIMS_VERSION, sims_view_ ? sims_view_->renderer() : "-"));
  });

  connect(guidance_, &GuidancePanel::changed, this, &MainWindow::request);
  connect(models_, &ModelsPanel::models_changed, this, &MainWindow::on_models_changed);
  connect(steps_, &StepViewer::changed, this, &MainWindow::refresh_views);
  connect(guidance_, &GuidancePanel::cancel_requested, this, &MainWindow::cancel_sampling);
  connect(models_, &ModelsPanel::model_opened, this,
          [this](ModelRole role, const QString& path) { add_recent(role == ModelRole::Base ? "base" : "aux", path); });

  load_settings(opts);
  resize(1500, 920);
  if (opts_.remember) restoreGeometry(QSettings().value("window/geometry").toByteArray());
}

MainWindow::~MainWindow() {
  // Join the workers before the widgets their queued callbacks point at go.
  live_.reset();
  jobs_.reset();
}

void MainWindow::closeEvent(QCloseEvent* e) {
  save_settings();
  if (jobs_ && jobs_->busy()) messages_->info("cancelling the running job…");
  e->accept();
}

TrainPanel* MainWindow::train_panel() {
  if (!train_) {
    train_ = new TrainPanel(jobs_.get(), messages_, this);
    train_->setObjectName("trainPanel");
    connect(train_, &TrainPanel::models_ready, this, [this](const QString& b, const QString& a) {
      models_->load(ModelRole::Base, b);
      if (!a.isEmpty()) models_->load(ModelRole::Aux, a);
    });
  }
  return train_;
}

void MainWindow::open_train() {
  train_panel()->show();
  train_->raise();
  train_->activateWindow();
}

// [SECTION] Settings ----------------------------------------------------------------------

void MainWindow::load_settings(const StudioOptions& opts) {
  QSettings s;
  GuidanceSettings g;
  if (opts.remember) {
    g.omega = s.value("guidance/omega", g.omega).toDouble();
    g.lo = s.value("guidance/lo", g.lo).toDouble();
    g.hi = s.value("guidance/hi", -1.0).toDouble();
    if (g.hi < 0) g.hi = std::numeric_limits<double>::infinity();
    g.steps = s.value("guidance/steps", g.steps).toInt();
    g.seed = s.value("guidance/seed", 0).toULongLong();
    g.points = s.value("guidance/points", qlonglong(g.points)).toLongLong();
    g.compare = s.value("guidance/compare", g.compare).toBool();
    g.sampler = s.value("guidance/sampler", "heun").toString() == "euler" ? SamplerKind::Euler : SamplerKind::Heun;
    recent_ = s.value("recent/files").toStringList();
  }
  rebuild_recent_menu();
  guidance_->set_settings(g);
  auto pick = [&](const QString& given, const char* key, const char* role) {
    if (!given.isEmpty()) return given;
    const QString remembered = opts.remember ? s.value(key).toString() : QString();
    if (!remembered.isEmpty() && QFileInfo::exists(remembered)) return remembered;
    return shipped_model(role);
  };
  const QString base = pick(opts.base, "models/base", "base"), aux = pick(opts.aux, "models/aux", "aux");
  const QSignalBlocker block(models_);  // one request once both are in
  const bool ok_base = models_->load(ModelRole::Base, base);
  const bool ok_aux = models_->load(ModelRole::Aux, aux);
  if (!ok_base || !ok_aux)
    messages_->warning("open model files with File ▸ Open, or make new ones with Tools ▸ Train models");
  on_models_changed();
}

void MainWindow::save_settings() {
  if (!opts_.remember) return;
  QSettings s;
  const GuidanceSettings g = guidance_->settings();
  s.setValue("guidance/omega", g.omega);
  s.setValue("guidance/lo", g.lo);
  s.setValue("guidance/hi", std::isfinite(g.hi) ? g.hi : -1.0);
  s.setValue("guidance/steps", g.steps);
  s.setValue("guidance/seed", qulonglong(g.seed));
  s.setValue("guidance/points", qlonglong(g.points));
  s.setValue("guidance/compare", g.compare);
  s.setValue("guidance/sampler", QString(to_string(g.sampler)));
  s.setValue("models/base", models_->path(ModelRole::Base));
  s.setValue("models/aux", models_->path(ModelRole::Aux));
  s.setValue("window/geometry", saveGeometry());
}

// [SECTION] Requests and results -------------------------------------------------------------

void MainWindow::on_models_changed() {
  bounds_ = QRectF();
  last_.reset();
  image_eval_seconds_ = 0;
  guidance_->set_aux_available(models_->aux() != nullptr);
  if (models_->base()) ensure_views(models_->base()->info().sample_shape);
  if (!models_->reference().data.empty()) bounds_ = bounds_of({&models_->reference()});
  request(false);
}

void MainWindow::request(bool preview) {
  const GuidanceSettings g = guidance_->settings();
  if (base_view_) base_view_->setVisible(g.compare && models_->aux());
  if (preview && preview_stamp_ != 0) {
    preview_wanted_ = true;  // sent when the preview in flight is shown
    return;
  }
  preview_stamp_ = 0;
  preview_wanted_ = false;
  if (!models_->base()) {
    live_->cancel();
    status_->setText("no base model");
    refresh_views();
    return;
  }
  engine::LiveRequest r;
  r.base = models_->base();
  r.aux = models_->aux();
  if (r.aux && r.aux->info().sample_shape != r.base->info().sample_shape) r.aux = nullptr;
  r.guidance.omega = r.aux ? g.omega : 0.0;
  r.guidance.lo = g.lo;
  r.guidance.hi = g.hi;
  r.sampler = guidance_->sampler_config();
  // Image models: a grid's worth of samples, not thousands of points.
  const bool points = r.base->info().sample_shape.size() == 1;
  r.n = points ? g.points : std::min<int64_t>(g.points, 36);
  r.seed = g.seed;
  r.preview = preview;
  r.preview_points = opts_.preview_points;
  if (!points) {
    // A full grid takes seconds on a CPU: a few images with few steps first,
    // then the full grid replaces them (both cancelled by a newer request;
    // the networks see a few images at a time so that happens quickly).
    r.preview_points = opts_.image_preview_images;
    r.preview_steps = opts_.image_preview_steps;
    if (image_eval_seconds_ > 0) {
      // Heun with N steps, guided: 2(2N-1) evaluations of each preview image.
      // Aim at 0.6 s so the preview lands within a second; never below 4 steps.
      const double budget = 0.6, per_step = 4.0 * image_eval_seconds_ * static_cast<double>(r.preview_points);
      r.preview_steps = std::clamp(static_cast<int>((budget + 2.0 * image_eval_seconds_ * r.preview_points) / per_step), 4,
                                   opts_.image_preview_steps);
    }
    r.refine = !preview;
    r.block_rows = 4;
  }
  r.compare_base = g.compare && r.aux;
  if (!preview && full_stamp_ != 0 && full_stamp_ == live_->latest_stamp() && same_live_request(r, full_req_)) {
    // Already in flight (started while the slider was held still) or on screen.
    if (shown_stamp_ == full_stamp_ && !shown_preview_) guidance_->set_status(guidance_->quality_text(), false);
    return;
  }
  const bool refine = r.refine;
  if (!preview) full_req_ = r;
  const uint64_t stamp = live_->submit(std::move(r));
  if (preview) preview_stamp_ = stamp;
  else full_stamp_ = stamp;
  status_->setText(preview ? "previewing…" : "sampling…");
  guidance_->set_status(preview ? "previewing…" : refine ? "sampling: a quick preview first, then the full grid…" : "sampling…",
                        true);
}

void MainWindow::on_result(engine::LiveResultPtr r) {
  const bool preview_done = r->stamp == preview_stamp_;
  if (preview_done) preview_stamp_ = 0;
  // An older request finished after a newer one was shown; under the same
  // stamp only a refinement replaces its preview.
  if (r->stamp < shown_stamp_ || (r->stamp == shown_stamp_ && (!shown_preview_ || r->request.preview))) return;
  shown_stamp_ = r->stamp;
  shown_preview_ = r->request.preview;
  last_ = r;
  if (r->x.dim() > 2 && r->nfe > 0 && r->reused_steps == 0 && r->compute_seconds > 0) {
    const double per = r->compute_seconds / (static_cast<double>(r->x.size(0)) * r->nfe);
    image_eval_seconds_ = image_eval_seconds_ > 0 ? 0.5 * (image_eval_seconds_ + per) : per;
  }
  if (!bounds_.isValid() && !r->request.preview) {
    SampleSet a = to_set(r->x), b = to_set(r->base_x);
    bounds_ = bounds_of({&a, &b});
  }
  steps_->set_sigmas(r->trajectory.t);
  refresh_views();
  const auto& q = r->request;
  const int steps = q.run_config().steps;
  const QString noun = r->x.dim() == 2 ? "points" : "images";
  status_->setText(QString("%1%2 %3 × %4 steps · %5 ms%6 · NFE %7")
                       .arg(q.preview ? "preview: " : "")
                       .arg(r->x.size(0))
                       .arg(noun)
                       .arg(steps)
                       .arg(r->compute_seconds * 1000, 0, 'f', 0)
                       .arg(r->reused_steps > 0 ? QString(" (%1 steps reused)").arg(r->reused_steps) : QString())
                       .arg(r->nfe));
  const QString quality =
      q.preview ? QString("<b>preview</b> · %1 of %2 %3 · %4 steps%5")
                      .arg(r->x.size(0))
                      .arg(q.n)
                      .arg(noun)
                      .arg(steps)
                      .arg(r->refining ? " — computing the full result…" : "")
                : QString("<b>final</b> · %1 %2 · %3 steps · %4 ms").arg(r->x.size(0)).arg(noun).arg(steps).arg(r->compute_seconds * 1000, 0, 'f', 0);
  guidance_->set_status(quality, r->refining || (preview_done && preview_wanted_));
  Q_EMIT result_shown(r->stamp, q.preview);
  if (preview_done && preview_wanted_) request(true);
  // A drag preview arrived and the slider has not moved since: the user is
  // looking at this omega, so its full-quality run starts now rather than at
  // the release (a move cancels it; the release finds it in flight or done).
  else if (preview_done && guidance_->dragging() && r->x.dim() == 2) request(false);
}

// [SECTION] Views ------------------------------------------------------------------------------

void MainWindow::ensure_views(const std::vector<int64_t>& shape) {
  if (shape == view_shape_ && sims_view_) return;
  delete base_view_;
  delete sims_view_;
  base_view_ = make_sample_view(shape, views_);
  sims_view_ = make_sample_view(shape, views_);
  base_view_->setObjectName("baseView");
  sims_view_->setObjectName("simsView");
  views_->addWidget(base_view_);
  views_->addWidget(sims_view_);
  view_shape_ = shape;
}

void MainWindow::refresh_views() {
  ViewContent s, b;
  s.color = kSimsColour;
  b.color = kBaseColour;
  s.reference = b.reference = models_->reference();
  s.bounds = b.bounds = bounds_.isValid() ? bounds_ : QRectF(-3, -3, 6, 6);
  const QString ref = models_->reference_name().isEmpty() ? QString()
                                                          : " · grey: training data (" + models_->reference_name() + ")";
  if (!last_) {
    s.title = models_->base() ? "sampling…" : "no base model";
    s.subtitle = models_->base() ? QString() : "open one (File ▸ Open) or train one (Tools ▸ Train models)";
    sims_view_->set_content(s);
    if (base_view_) base_view_->set_content(b);
    return;
  }
  const auto& q = last_->request;
  const QString noun = last_->x.dim() == 2 ? "points" : "images";
  const int k = steps_->step();
  const bool den = steps_->show_denoised();
  QString caption = steps_->caption();
  if (q.preview)
    caption += QString(" · preview (%1 of %2 %3, %4 steps)").arg(last_->x.size(0)).arg(q.n).arg(noun).arg(q.run_config().steps);
  const bool guided = q.aux && q.guidance.omega != 0.0;
  s.title = !q.aux ? "Base model (no auxiliary loaded)"
            : guided ? QString("SIMS  ω = %1").arg(q.guidance.omega, 0, 'f', 2)
                     : QString("SIMS  ω = 0 (the base model)");
  s.subtitle = caption + ref;
  s.samples = to_set(at_step(last_->x, last_->trajectory, k, den));
  s.footer = QString("%1%2 %3 · NFE %4 · %5 ms")
                 .arg(q.preview ? "preview · " : "final · ")
                 .arg(last_->x.size(0))
                 .arg(noun)
                 .arg(last_->nfe)
                 .arg(last_->compute_seconds * 1000, 0, 'f', 0);
  if (steps_->show_trails()) {
    s.trails = trails_of(last_->trajectory, kTrails);
    s.trail_step = k;
  }
  sims_view_->set_content(s);
  if (base_view_ && last_->base_x.defined()) {
    b.title = "Base model  ω = 0";
    b.subtitle = caption;
    b.samples = to_set(at_step(last_->base_x, last_->base_trajectory, k, den));
    b.footer = QString("same seeds · %1 %2").arg(last_->base_x.size(0)).arg(noun);
    if (steps_->show_trails()) {
      b.trails = trails_of(last_->base_trajectory, kTrails);
      b.trail_step = k;
    }
    base_view_->set_content(b);
  }
  if (!renderer_logged_ && !s.samples.data.empty()) {
    renderer_logged_ = true;
    messages_->info("sample views drawn with " + sims_view_->renderer());
  }
}

bool MainWindow::export_png(const QString& path) {
  std::vector<QImage> parts;
  if (base_view_ && base_view_->isVisible() && last_ && last_->base_x.defined()) parts.push_back(base_view_->render_image());
  parts.push_back(sims_view_->render_image());
  int w = 0, h = 0;
  for (const auto& p : parts) w += p.width(), h = std::max(h, p.height());
  if (w == 0 || h == 0) {
    messages_->error("nothing to export yet");
    return false;
  }
  QImage out(w, h, QImage::Format_RGB32);
  out.fill(Qt::white);
  {
    QPainter p(&out);
    int x = 0;
    for (auto& part : parts) {
      part.setDevicePixelRatio(1.0);
      p.drawImage(x, 0, part);
      x += part.width();
    }
  }
  if (!out.save(path, "PNG")) {
    messages_->error("cannot write '" + path + "'");
    return false;
  }
  messages_->info("exported " + path);
  return true;
}

void MainWindow::export_dialog() {
  QSettings s;
  const QString f = QFileDialog::getSaveFileName(this, "Export view as PNG",
                                                 s.value("export/last", "sims-view.png").toString(), "PNG images (*.png)");
  if (f.isEmpty()) return;
  s.setValue("export/last", f);
  export_png(f);
}

engine::JobPtr MainWindow::start_grid_export(const QString& path, const QString& omegas, const QString& seeds,
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
    messages_->error(QString("grid export: %1").arg(QString::fromUtf8(e.what())));
    return nullptr;
  }
  auto* dlg = new QProgressDialog("Sampling the ω × seed grid…", "Cancel", 0, 1000, this);
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

void MainWindow::export_grid_dialog() {
  if (!models_->base() || !models_->aux()) {
    messages_->error("grid export: open a base and an auxiliary model first");
    return;
  }
  QSettings s;
  const GuidanceSettings gs = guidance_->settings();
  QDialog dlg(this);
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
  const QString f = QFileDialog::getSaveFileName(this, "Export ω × seed grid",
                                                 s.value("grid/last", "sims-grid.png").toString(), "PNG images (*.png)");
  if (f.isEmpty()) return;
  s.setValue("grid/last", f);
  s.setValue("grid/omegas", omegas->text());
  start_grid_export(f, omegas->text(), seeds->text(), per_cell->value());
}

// [SECTION] Sessions and recent files ------------------------------------------------------

namespace {

const char* kSessionFormat = "sims-studio-session";
const int kRecentMax = 8;

QTabWidget* main_tabs(QWidget* w) { return w->findChild<QTabWidget*>("mainTabs"); }

QString tab_key(const QTabWidget* t, int i) { return t->tabText(i).remove('&').trimmed().toLower(); }

}  // namespace

bool MainWindow::save_session(const QString& path) {
  const GuidanceSettings g = guidance_->settings();
  QJsonObject models{{"base", models_->path(ModelRole::Base)}, {"aux", models_->path(ModelRole::Aux)}};
  QJsonObject guidance{{"omega", g.omega},
                       {"lo", g.lo},
                       {"hi", std::isfinite(g.hi) ? QJsonValue(g.hi) : QJsonValue("inf")},
                       {"steps", g.steps},
                       {"sampler", QString(to_string(g.sampler))},
                       {"seed", QString::number(g.seed)},
                       {"points", qint64(g.points)},
                       {"compare", g.compare}};
  QJsonObject viewer{{"mode", steps_->show_denoised() ? "denoised" : "x_t"}, {"trails", steps_->show_trails()}};
  QJsonObject root{{"format", kSessionFormat}, {"version", 1}, {"models", models}, {"guidance", guidance},
                   {"step_viewer", viewer}};
  if (QTabWidget* t = main_tabs(this)) root["tab"] = tab_key(t, t->currentIndex());
  const QByteArray bytes = QJsonDocument(root).toJson(QJsonDocument::Indented);
  try {
    io::write_file_atomically(path.toStdString(), bytes.constData(), static_cast<size_t>(bytes.size()));
  } catch (const std::exception& e) {
    messages_->error(QString("cannot save the session: %1").arg(QString::fromUtf8(e.what())));
    return false;
  }
  messages_->info("saved session " + path);
  add_recent("session", QFileInfo(path).absoluteFilePath());
  return true;
}

bool MainWindow::open_session(const QString& path) {
  auto refuse = [&](const QString& why) {
    messages_->error(QString("cannot open session '%1': %2 (nothing was changed)").arg(path, why));
    status_->setText("session not opened");
    return false;
  };
  QFile f(path);
  if (!f.exists()) return refuse("the file does not exist");
  if (!f.open(QIODevice::ReadOnly)) return refuse("the file cannot be read");
  if (f.size() > (4 << 20)) return refuse("the file is too large to be a session");
  QJsonParseError perr;
  const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &perr);
  if (doc.isNull()) return refuse(QString("not valid JSON (%1 at byte %2)").arg(perr.errorString()).arg(perr.offset));
  if (!doc.isObject() || doc.object().value("format").toString() != kSessionFormat)
    return refuse(QString("not a SIMS Studio session (no \"format\": \"%1\")").arg(kSessionFormat));
  const QJsonObject root = doc.object();
  if (root.value("version").toInt(0) != 1) return refuse("unsupported session version (this studio reads version 1)");

  // Everything is read and checked before anything changes.
  const QDir dir = QFileInfo(path).absoluteDir();
  auto file_of = [&](const QJsonValue& v) {
    const QString p = v.toString();
    return p.isEmpty() || QFileInfo(p).isAbsolute() ? p : dir.absoluteFilePath(p);
  };
  const QJsonObject m = root.value("models").toObject();
  const QString base = file_of(m.value("base")), aux = file_of(m.value("aux"));
  if (base.isEmpty()) return refuse("it names no base model");
  const QJsonObject jg = root.value("guidance").toObject();
  GuidanceSettings g = guidance_->settings();
  auto number = [&](const char* key, double lo, double hi, double& out) -> bool {
    if (!jg.contains(key)) return true;  // missing: keep the current value
    const QJsonValue v = jg.value(key);
    if (!v.isDouble() || !(v.toDouble() >= lo && v.toDouble() <= hi)) return false;
    out = v.toDouble();
    return true;
  };
  double omega = g.omega, lo = g.lo, steps = g.steps, points = static_cast<double>(g.points);
  if (!number("omega", -1.0, 3.0, omega)) return refuse("\"omega\" must be a number in [-1, 3]");
  if (!number("lo", 0.0, 1e6, lo)) return refuse("\"lo\" must be a number >= 0");
  if (!number("steps", 2, 256, steps) || steps != std::floor(steps)) return refuse("\"steps\" must be a whole number in [2, 256]");
  if (!number("points", 16, 200000, points) || points != std::floor(points))
    return refuse("\"points\" must be a whole number in [16, 200000]");
  double hi = g.hi;
  if (jg.contains("hi")) {
    const QJsonValue v = jg.value("hi");
    if (v.isString() && v.toString() == "inf") hi = std::numeric_limits<double>::infinity();
    else if (v.isDouble() && v.toDouble() > 0) hi = v.toDouble();
    else return refuse("\"hi\" must be a positive number or \"inf\"");
  }
  if (!(hi > lo)) return refuse("the guidance interval needs lo < hi");
  SamplerKind sampler = g.sampler;
  if (jg.contains("sampler")) {
    const QString k = jg.value("sampler").toString();
    if (k == "heun") sampler = SamplerKind::Heun;
    else if (k == "euler") sampler = SamplerKind::Euler;
    else return refuse("\"sampler\" must be \"heun\" or \"euler\"");
  }
  uint64_t seed = g.seed;
  if (jg.contains("seed")) {
    bool ok = false;
    const QJsonValue v = jg.value("seed");
    const qulonglong n = v.isString() ? v.toString().toULongLong(&ok) : 0;
    if (v.isDouble() && v.toDouble() >= 0 && v.toDouble() == std::floor(v.toDouble())) ok = true;
    seed = v.isDouble() ? static_cast<uint64_t>(v.toDouble()) : n;
    if (!ok || seed > (1u << 30)) return refuse("\"seed\" must be a whole number in [0, 2^30]");
  }
  bool compare = g.compare;
  if (jg.contains("compare")) {
    if (!jg.value("compare").isBool()) return refuse("\"compare\" must be true or false");
    compare = jg.value("compare").toBool();
  }
  const QJsonObject jv = root.value("step_viewer").toObject();
  const QString mode = jv.value("mode").toString("x_t");
  if (mode != "x_t" && mode != "denoised") return refuse("\"step_viewer.mode\" must be \"x_t\" or \"denoised\"");
  int tab = -1;
  QTabWidget* tabs = main_tabs(this);
  if (root.contains("tab") && tabs) {
    const QString want = root.value("tab").toString();
    for (int i = 0; i < tabs->count(); ++i)
      if (tab_key(tabs, i) == want) tab = i;
    if (tab < 0) return refuse(QString("unknown tab '%1'").arg(want));
  }

  // The models: both load, or neither changes (unchanged files are kept as they are).
  const bool same_models = base == models_->path(ModelRole::Base) && aux == models_->path(ModelRole::Aux) &&
                           models_->base() && (aux.isEmpty() || models_->aux());
  if (!same_models) {
    const QSignalBlocker block(models_);  // one request, below
    if (!models_->load_pair(base, aux)) {
      status_->setText("session not opened");
      messages_->error(QString("session '%1' was not opened: its models cannot be loaded (nothing was changed)").arg(path));
      return false;
    }
  }
  g.omega = omega;
  g.lo = lo;
  g.hi = hi;
  g.steps = static_cast<int>(steps);
  g.sampler = sampler;
  g.seed = seed;
  g.points = static_cast<int64_t>(points);
  g.compare = compare;
  guidance_->set_settings(g);
  {
    const QSignalBlocker block(steps_);
    steps_->set_show_denoised(mode == "denoised");
    steps_->set_show_trails(jv.value("trails").toBool(false));
  }
  if (tab >= 0) tabs->setCurrentIndex(tab);
  messages_->info("opened session " + path);
  add_recent("session", QFileInfo(path).absoluteFilePath());
  if (!same_models) on_models_changed();
  else request(false);
  return true;
}

void MainWindow::save_session_dialog() {
  QSettings s;
  QString f = QFileDialog::getSaveFileName(this, "Save session", s.value("session/last", "session.simsession").toString(),
                                           "SIMS Studio sessions (*.simsession)");
  if (f.isEmpty()) return;
  if (QFileInfo(f).suffix().isEmpty()) f += ".simsession";
  s.setValue("session/last", f);
  save_session(f);
}

void MainWindow::open_session_dialog() {
  QSettings s;
  const QString f = QFileDialog::getOpenFileName(this, "Open session", QFileInfo(s.value("session/last").toString()).absolutePath(),
                                                 "SIMS Studio sessions (*.simsession);;All files (*)");
  if (f.isEmpty()) return;
  s.setValue("session/last", f);
  open_session(f);
}

void MainWindow::add_recent(const QString& kind, const QString& path) {
  const QString entry = kind + ":" + QFileInfo(path).absoluteFilePath();
  recent_.removeAll(entry);
  recent_.prepend(entry);
  while (recent_.size() > kRecentMax) recent_.removeLast();
  if (opts_.remember) QSettings().setValue("recent/files", recent_);
  rebuild_recent_menu();
}

void MainWindow::rebuild_recent_menu() {
  if (!recent_menu_) return;
  recent_menu_->clear();
  for (const QString& entry : recent_) {
    const int colon = entry.indexOf(':');
    const QString kind = entry.left(colon), file = entry.mid(colon + 1);
    const QString label = kind == "session" ? "Session" : kind == "base" ? "Base model" : "Auxiliary model";
    QAction* a = recent_menu_->addAction(QString("%1: %2").arg(label, QFileInfo(file).fileName()));
    a->setToolTip(file);
    a->setStatusTip(file);
    connect(a, &QAction::triggered, this, [this, kind, file] {
      if (kind == "session") open_session(file);
      else models_->load(kind == "base" ? ModelRole::Base : ModelRole::Aux, file);
    });
  }
  if (recent_.isEmpty()) recent_menu_->addAction("(none yet)")->setEnabled(false);
  recent_menu_->addSeparator();
  recent_menu_->addAction("Clear the list", this, [this] {
    recent_.clear();
    if (opts_.remember) QSettings().remove("recent/files");
    rebuild_recent_menu();
  });
}

void MainWindow::cancel_sampling() {
  live_->cancel();
  preview_stamp_ = 0;
  preview_wanted_ = false;
  status_->setText("sampling stopped");
  guidance_->set_status(last_ ? "stopped · showing the last result" : "stopped", false);
  messages_->info("sampling stopped; the views keep the last result");
}

}  // namespace sims::ui
