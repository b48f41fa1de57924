#include "main_window.hpp"

#include <QAction>
#include <QActionGroup>
#include <QCloseEvent>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QScreen>
#include <QScrollArea>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

#include <regex>

#include "common/device.hpp"
#include "common/error.hpp"
#include "common/paths.hpp"

#include "analysis_tab.hpp"
#include "export_controller.hpp"
#include "guidance_panel.hpp"
#include "live_view.hpp"
#include "atlas_view.hpp"
#include "loop_view.hpp"
#include "message_area.hpp"
#include "models_panel.hpp"
#include "session_controller.hpp"
#include "shift_view.hpp"
#include "step_viewer.hpp"
#include "sweep_view.hpp"
#include "theme.hpp"
#include "train_panel.hpp"
#include "common/json_parse.hpp"

namespace sims::ui {

QString shipped_model(const char* role, const char* pair) {
  return QString::fromStdString(sims::asset_path("models/")) + pair + "-" + role + ".ckpt";
}

// [SECTION] Construction: the parts and their wiring ----------------------------------------

MainWindow::MainWindow(const StudioOptions& opts, QWidget* parent) : QMainWindow(parent), opts_(opts) {
  setWindowTitle("SIMS Studio");
  // The theme first, so every widget is built in its colours: --theme, else the remembered one, else the system's.
  Theme theme = Theme::System;
  if (!parse_theme(opts.theme, &theme) && opts.remember)
    parse_theme(QSettings().value("view/theme", "system").toString(), &theme);
  apply_theme(theme);
  jobs_ = std::make_unique<engine::JobRunner>();

  messages_ = new MessageArea(this);
  messages_->setObjectName("messages");
  models_ = new ModelsPanel(messages_, this);
  guidance_ = new GuidancePanel(this);
  status_ = new QLabel(this);
  status_->setObjectName("statusText");

  // The Live tab: its side panel (the models, live guidance) beside the sample views. Each analysis tab
  // brings its own side panel; nothing of one tab's controls shows on another.
  auto* left = new QWidget(this);
  left->setObjectName("livePanel");
  auto* lv = new QVBoxLayout(left);
  lv->setContentsMargins(6, 6, 6, 6);
  lv->addWidget(models_);
  lv->addWidget(guidance_);
  lv->addStretch(1);

  engine::LivePolicyOptions live_opts;
  live_opts.preview_points = opts.preview_points;
  live_opts.preview_images = opts.image_preview_images;
  live_opts.preview_steps = opts.image_preview_steps;
  live_view_ = new LiveView(models_, guidance_, messages_, status_, live_opts, this);
  live_view_->setObjectName("liveView");

  // Analysis tabs beside the live view; they use the loaded models and report here.
  tabs_ = new QTabWidget(this);
  tabs_->setObjectName("mainTabs");
  tabs_->setDocumentMode(true);
  auto* live_page = new QWidget(this);
  auto* lh = new QHBoxLayout(live_page);
  lh->setContentsMargins(0, 0, 0, 0);
  lh->setSpacing(4);
  // The quality line and Stop sit under the scrolled panel, as the analysis tabs' actions do.
  auto* side = new QWidget(live_page);
  auto* sv = new QVBoxLayout(side);
  sv->setContentsMargins(0, 0, 0, 0);
  sv->setSpacing(0);
  QScrollArea* scroll = side_scroll(left, side);
  sv->addWidget(scroll, 1);
  auto* footer = new QWidget(side);
  footer->setObjectName("liveActions");
  auto* fv = new QVBoxLayout(footer);
  fv->setContentsMargins(12, 4, 12, 6);
  fv->addWidget(guidance_->take_status_row());
  sv->addWidget(footer);
  lh->addWidget(side);
  lh->addWidget(live_view_, 1);
  tabs_->addTab(live_page, "Live");
  sweep_ = new SweepView(models_, messages_, this);
  sweep_->setObjectName("sweepView");
  tabs_->addTab(sweep_, "Sweep");
  loops_ = new LoopView(messages_, this);
  loops_->setObjectName("loopView");
  tabs_->addTab(loops_, "Loops");
  atlas_ = new AtlasView(messages_, this);
  atlas_->setObjectName("atlasView");
  tabs_->addTab(atlas_, "Atlas");
  // Clicking an atlas cell runs that Gaussian loop in the Loops tab.
  atlas_->set_on_cell([this](const LoopPlan& p) {
    tabs_->setCurrentWidget(loops_);
    if (loops_->running()) {
      messages_->warning("atlas: a loop is running in the Loops tab; cancel it to run the clicked cell");
      return;
    }
    loops_->set_plan(p);
    loops_->start();
  });
  shift_ = new ShiftView(messages_, this);
  shift_->setObjectName("shiftView");
  tabs_->addTab(shift_, "Shift");

  // Analysis tabs pause live sampling (it would compete with their jobs for the cores).
  connect(tabs_, &QTabWidget::currentChanged, live_view_, [this](int i) { live_view_->set_paused(i != 0); });

  auto* vertical = new QSplitter(Qt::Vertical, this);
  vertical->addWidget(tabs_);
  vertical->addWidget(messages_);
  vertical->setStretchFactor(0, 1);
  // The log keeps four lines on a short screen (1280 × 720), where every tab needs the height, five elsewhere.
  const QScreen* primary = QGuiApplication::primaryScreen();
  const bool short_screen = primary && primary->availableGeometry().height() < 800;
  vertical->setSizes({800, short_screen ? 68 : 90});
  setCentralWidget(vertical);
  statusBar()->addWidget(status_, 1);

  sessions_ = new SessionController(this, models_, guidance_, live_view_->steps(), tabs_, messages_, status_, opts.remember);
  exports_ = new ExportController(this, live_view_, models_, guidance_, messages_, jobs_.get());

  auto* file = menuBar()->addMenu("&File");
  file->addAction("Open &base model…", this, [this] { models_->open_dialog(ModelRole::Base); });
  file->addAction("Open &auxiliary model…", this, [this] { models_->open_dialog(ModelRole::Aux); });
  // The shipped pairs, each with what `sims tune` found (the live ω starts at the tuned one).
  QMenu* shipped = file->addMenu("Open &shipped pair");
  shipped->setObjectName("shippedMenu");
  const struct {
    const char *pair, *label;
  } pairs[] = {{"gaussian", "&gaussian: the paper's 2D Gaussian (SIMS gains beyond the noise)"},
               {"grid25", "g&rid25: 25 modes (a base near the metric's floor: a small gain)"},
               {"faces", "&faces: 32 × 32 images (U-Net)"}};
  for (const auto& p : pairs) {
    const QString b = shipped_model("base", p.pair), a = shipped_model("aux", p.pair);
    // Loading the auxiliary starts the live view at its tuned ω (SessionController, on model_opened).
    shipped->addAction(p.label, this, [this, b, a] { models_->load_pair(b, a); });
  }
  file->addSeparator();
  file->addAction("&Open session…", QKeySequence::Open, this, &MainWindow::open_session_dialog);
  file->addAction("&Save session…", QKeySequence::Save, this, &MainWindow::save_session_dialog);
  QMenu* recent = file->addMenu("Open &recent");
  recent->setObjectName("recentMenu");
  sessions_->set_recent_menu(recent);
  file->addSeparator();
  file->addAction("&Export view as PNG…", QKeySequence("Ctrl+E"), this, &MainWindow::export_dialog);
  file->addAction("Export ω × seed &grid…", QKeySequence("Ctrl+G"), this, &MainWindow::export_grid_dialog);
  file->addAction("Export denoising &animation (GIF/PNG)…", QKeySequence("Ctrl+Shift+E"), exports_,
                  &ExportController::export_animation_dialog);
  file->addSeparator();
  file->addAction("&Quit", QKeySequence::Quit, this, &QWidget::close);
  // View: the tabs by keyboard (Ctrl+1..5) and the step viewer's playback (Space, on the Live tab).
  auto* view = menuBar()->addMenu("&View");
  view->setObjectName("viewMenu");
  for (int i = 0; i < tabs_->count(); ++i)
    view->addAction("&" + tabs_->tabText(i) + " tab", QKeySequence(QString("Ctrl+%1").arg(i + 1)), this,
                    [this, i] { tabs_->setCurrentIndex(i); });
  view->addSeparator();
  QAction* play = view->addAction("&Play / pause the steps", QKeySequence(Qt::Key_Space), this,
                                  [this] { live_view_->steps()->toggle_play(); });
  play->setObjectName("playAction");
  // Space only where the steps are: inside the Live tab's views and step viewer (elsewhere a focused button or
  // box keeps its own Space).
  play->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  live_view_->addAction(play);
  view->addSeparator();
  view->addAction("P&in the result shown (compare it with what follows)", QKeySequence("Ctrl+P"), this,
                  [this] { live_view_->pin(); });
  view->addAction("&Unpin", QKeySequence("Ctrl+Shift+P"), this, [this] { live_view_->unpin(); });
  view->addAction("&Flicker between live and pinned (on / off)", QKeySequence("Ctrl+K"), this,
                  [this] { live_view_->set_flicker(!live_view_->flicker()); });
  view->addAction("Show the &difference live − pinned (on / off)", QKeySequence("Ctrl+D"), this,
                  [this] { live_view_->set_difference(!live_view_->difference()); });
  view->addSeparator();
  // Theme: the window's colours; exports are always drawn on paper (light), whatever is chosen here.
  QMenu* themes = view->addMenu("&Theme");
  themes->setObjectName("themeMenu");
  auto* group = new QActionGroup(themes);
  const struct {
    Theme theme;
    const char* label;
  } choices[] = {{Theme::System, "&System"}, {Theme::Light, "&Light"}, {Theme::Dark, "&Dark"}};
  for (const auto& c : choices) {
    QAction* a = themes->addAction(c.label);
    a->setObjectName("theme-" + theme_name(c.theme));
    a->setCheckable(true);
    a->setChecked(c.theme == current_theme());
    group->addAction(a);
    const Theme t = c.theme;
    connect(a, &QAction::triggered, this, [this, t] {
      apply_theme(t);
      if (opts_.remember) QSettings().setValue("view/theme", theme_name(t));
    });
    // The tick follows the theme however it was chosen.
    connect(ThemeSignals::instance(), &ThemeSignals::changed, a, [a, t] { a->setChecked(current_theme() == t); });
  }
  auto* tools = menuBar()->addMenu("&Tools");
  tools->addAction("&Train models…", QKeySequence("Ctrl+T"), this, &MainWindow::open_train);
  // Compute device: where models are loaded and jobs run (sims-studio --device). Only the devices this process sees
  // are offered; the choice is not remembered (it belongs to the machine, not to the session). Models are reloaded
  // on the new device; a job already running stays where it started.
  QMenu* devices = tools->addMenu("Compute &device");
  devices->setObjectName("deviceMenu");
  auto* device_group = new QActionGroup(devices);
  const std::string current = device_name(face_device());
  const std::vector<std::string> names = available_devices();
  for (const std::string& name : names) {
    QAction* a = devices->addAction(QString::fromStdString(name));
    a->setObjectName(QString::fromStdString("device-" + name));
    a->setCheckable(true);
    a->setChecked(name == current);
    device_group->addAction(a);
    connect(a, &QAction::triggered, this, [this, name] { use_device(name); });
  }
  if (names.size() == 1) {
    QAction* none = devices->addAction("no CUDA device (this build or machine has none)");
    none->setEnabled(false);
  }
  auto* help = menuBar()->addMenu("&Help");
  help->addAction("&About", this, [this] {
    QMessageBox::about(this, "SIMS Studio",
                       QString("<b>SIMS Studio %1</b><p>Self-improving diffusion models: sample with "
                               "D = (1+ω)·D_base − ω·D_aux inside a guidance interval of σ.</p>"
                               "<p>Point renderer: %2</p>")
                           .arg(SIMS_VERSION, sims_view() ? sims_view()->renderer() : "-"));
  });

  // Panels -> live view; sessions -> live view; live view -> this window's signal.
  connect(guidance_, &GuidancePanel::changed, live_view_, &LiveView::request);
  connect(guidance_, &GuidancePanel::cancel_requested, live_view_, &LiveView::cancel_sampling);
  connect(models_, &ModelsPanel::models_changed, live_view_, &LiveView::models_changed);
  connect(sessions_, &SessionController::models_replaced, live_view_, &LiveView::models_changed);
  connect(sessions_, &SessionController::settings_restored, live_view_, [this] { live_view_->request(false); });
  connect(live_view_, &LiveView::result_shown, this, &MainWindow::result_shown);

  sessions_->load_settings(opts);
  // 1500 x 920, or what the screen has room for (the layout works down to 1280 x 720).
  QSize size(1500, 920);
  if (const QScreen* sc = screen()) size = size.boundedTo(sc->availableGeometry().size() * 0.96);
  resize(size);
  sessions_->restore_geometry();
}

MainWindow::~MainWindow() {
  // Join the workers before the widgets their queued callbacks point at go.
  live_view_->shutdown();
  jobs_.reset();
}

void MainWindow::closeEvent(QCloseEvent* e) {
  sessions_->save_settings();
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

// [SECTION] Forwarding to the parts ---------------------------------------------------------

StepViewer* MainWindow::steps() const { return live_view_->steps(); }
SampleView* MainWindow::sims_view() const { return live_view_->sims_view(); }
SampleView* MainWindow::base_view() const { return live_view_->base_view(); }
engine::LiveResultPtr MainWindow::last_result() const { return live_view_->last_result(); }
engine::LiveSampler& MainWindow::live() { return live_view_->live(); }
bool MainWindow::use_device(const std::string& wanted) {
  const c10::Device before = face_device();
  const auto tick = [this](const c10::Device& d) {
    if (auto* a = findChild<QAction*>(QString::fromStdString("device-" + device_name(d)))) a->setChecked(true);
  };
  const std::string name = wanted == "cuda" ? "cuda:0" : wanted;  // as set_face_device spells it
  if (device_name(before) == name) return true;
  const QString base = models_->path(ModelRole::Base), aux = models_->path(ModelRole::Aux);
  try {
    // cpu or cuda:i only; with models loaded, loading them there is the test, with none the device must exist now.
    if (!std::regex_match(name, std::regex("cpu|cuda:[0-9]+")))
      throw InputError("a compute device is cpu or cuda:i");
    set_face_device(base.isEmpty() ? parse_device(name) : device_from_name(name));
  } catch (const std::exception& e) {
    tick(before);
    messages_->error(QString("compute device: '%1' cannot be used: %2")
                         .arg(QString::fromStdString(wanted), QString::fromStdString(sims::error_words(e)).section('\n', 0, 0)));
    return false;
  }
  if (base.isEmpty()) {  // nothing loaded yet: the next model opened goes there
    tick(face_device());
    messages_->info(QString("compute device: %1").arg(QString::fromStdString(name)));
    return true;
  }
  messages_->info(QString("compute device: %1; reloading the models there").arg(QString::fromStdString(name)));
  if (models_->load_pair(base, aux)) {
    tick(face_device());
    return true;
  }
  set_face_device(before);  // the models stay where they were, and so does the choice
  tick(before);
  messages_->error(QString("compute device: could not move the models to %1; staying on %2")
                       .arg(QString::fromStdString(name), QString::fromStdString(device_name(before))));
  return false;
}

void MainWindow::request(bool preview) { live_view_->request(preview); }
void MainWindow::cancel_sampling() { live_view_->cancel_sampling(); }

bool MainWindow::export_png(const QString& path) { return exports_->export_png(path); }
engine::JobPtr MainWindow::start_grid_export(const QString& path, const QString& omegas, const QString& seeds,
                                             int64_t per_cell) {
  return exports_->start_grid_export(path, omegas, seeds, per_cell);
}
void MainWindow::export_dialog() { exports_->export_dialog(); }
void MainWindow::export_grid_dialog() { exports_->export_grid_dialog(); }

bool MainWindow::save_session(const QString& path) { return sessions_->save_session(path); }
bool MainWindow::open_session(const QString& path) { return sessions_->open_session(path); }
QStringList MainWindow::recent_files() const { return sessions_->recent_files(); }
void MainWindow::save_session_dialog() { sessions_->save_session_dialog(); }
void MainWindow::open_session_dialog() { sessions_->open_session_dialog(); }

}  // namespace sims::ui
