#include "main_window.hpp"

#include <cmath>

#include <QApplication>
#include <QCloseEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QPainter>
#include <QScrollArea>
#include <QSettings>
#include <QSlider>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include <ATen/ATen.h>

#include "guidance_panel.hpp"
#include "interval_bar.hpp"
#include "message_area.hpp"
#include "models_panel.hpp"
#include "point_view.hpp"
#include "step_viewer.hpp"
#include "sweep_view.hpp"
#include "loop_view.hpp"
#include "train_panel.hpp"

namespace sims::ui {
namespace {

const QColor kBaseColour(60, 100, 170);
const QColor kSimsColour(214, 82, 48);
const int kTrails = 14;

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
  return QString(SIMS_SOURCE_DIR "/assets/models/grid25-%1.ckpt").arg(role);
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
          messages_->error("sampling: " + m);
          status_->setText("sampling failed");
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
  scroll->setMinimumWidth(380);
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
  file->addAction("&Export view as PNG…", QKeySequence("Ctrl+E"), this, &MainWindow::export_dialog);
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
  }
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
  s.setValue("models/base", models_->path(ModelRole::Base));
  s.setValue("models/aux", models_->path(ModelRole::Aux));
  s.setValue("window/geometry", saveGeometry());
}

// [SECTION] Requests and results -------------------------------------------------------------

void MainWindow::on_models_changed() {
  bounds_ = QRectF();
  last_.reset();
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
  r.compare_base = g.compare && r.aux;
  const uint64_t stamp = live_->submit(std::move(r));
  if (preview) preview_stamp_ = stamp;
  status_->setText(preview ? "previewing…" : "sampling…");
}

void MainWindow::on_result(engine::LiveResultPtr r) {
  const bool preview_done = r->stamp == preview_stamp_;
  if (preview_done) preview_stamp_ = 0;
  if (r->stamp <= shown_stamp_) return;  // an older request finished after a newer one was shown
  shown_stamp_ = r->stamp;
  last_ = r;
  if (!bounds_.isValid() && !r->request.preview) {
    SampleSet a = to_set(r->x), b = to_set(r->base_x);
    bounds_ = bounds_of({&a, &b});
  }
  steps_->set_sigmas(r->trajectory.t);
  refresh_views();
  const auto& q = r->request;
  status_->setText(QString("%1%2 %3 × %4 steps · %5 ms%6 · NFE %7")
                       .arg(q.preview ? "preview: " : "")
                       .arg(r->x.size(0))
                       .arg(r->x.dim() == 2 ? "points" : "images")
                       .arg(q.sampler.steps)
                       .arg(r->compute_seconds * 1000, 0, 'f', 0)
                       .arg(r->reused_steps > 0 ? QString(" (%1 steps reused)").arg(r->reused_steps) : QString())
                       .arg(r->nfe));
  Q_EMIT result_shown(r->stamp, q.preview);
  if (preview_done && preview_wanted_) request(true);
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
  if (q.preview) caption += QString(" · preview (%1 %2)").arg(last_->x.size(0)).arg(noun);
  const bool guided = q.aux && q.guidance.omega != 0.0;
  s.title = !q.aux ? "Base model (no auxiliary loaded)"
            : guided ? QString("SIMS  ω = %1").arg(q.guidance.omega, 0, 'f', 2)
                     : QString("SIMS  ω = 0 (the base model)");
  s.subtitle = caption + ref;
  s.samples = to_set(at_step(last_->x, last_->trajectory, k, den));
  s.footer = QString("%1 %2 · NFE %3 · %4 ms").arg(last_->x.size(0)).arg(noun).arg(last_->nfe).arg(last_->compute_seconds * 1000, 0, 'f', 0);
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

}  // namespace sims::ui
