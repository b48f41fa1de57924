#include "session_controller.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <QAction>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMainWindow>
#include <QMenu>
#include <QSettings>
#include <QTabWidget>
#include <QTimer>

#include "common/error.hpp"
#include "engine/live_policy.hpp"
#include "io/atomic_file.hpp"
#include "loops/tune.hpp"
#include "metrics/uncertainty.hpp"

#include "guidance_panel.hpp"
#include "message_area.hpp"
#include "models_panel.hpp"
#include "step_viewer.hpp"
#include "common/json_parse.hpp"

namespace sims::ui {
namespace {

const int kRecentMax = 8;

QString tab_key(const QTabWidget* t, int i) { return t->tabText(i).remove('&').trimmed().toLower(); }

// The index of the tab a session names: -1 where it names none (or there are no tabs), -2 where no tab has the name.
int session_tab(const QTabWidget* tabs, const std::string& key) {
  if (key.empty() || !tabs) return -1;
  for (int i = 0; i < tabs->count(); ++i)
    if (tab_key(tabs, i) == QString::fromStdString(key)) return i;
  return -2;
}

}  // namespace

SessionController::SessionController(QMainWindow* window, ModelsPanel* models, GuidancePanel* guidance,
                                     StepViewer* steps, QTabWidget* tabs, MessageArea* messages, QLabel* status,
                                     bool remember)
    : QObject(window),
      window_(window),
      models_(models),
      guidance_(guidance),
      steps_(steps),
      tabs_(tabs),
      messages_(messages),
      status_(status),
      remember_(remember) {
  connect(models_, &ModelsPanel::model_opened, this,
          [this](ModelRole role, const QString& path) {
            add_recent(role == ModelRole::Base ? "base" : "aux", path);
            if (role == ModelRole::Aux) start_at_tuned_omega();
          });
}

void SessionController::set_recent_menu(QMenu* menu) {
  recent_menu_ = menu;
  rebuild_recent_menu();
}

void SessionController::restore_geometry() {
  if (remember_) window_->restoreGeometry(QSettings().value("window/geometry").toByteArray());
}

// [SECTION] Settings ----------------------------------------------------------------------

namespace {

engine::LiveSession session_of(const GuidanceSettings& g) {
  engine::LiveSession s;
  s.omega = g.omega, s.lo = g.lo, s.hi = g.hi, s.steps = g.steps, s.sampler = g.sampler, s.seed = g.seed;
  s.points = g.points, s.compare = g.compare;
  return s;
}

}  // namespace

void SessionController::load_settings(const StudioOptions& opts) {
  QSettings s;
  GuidanceSettings g;
  if (opts.remember) {
    g.omega = s.value("guidance/omega", g.omega).toDouble();
    g.lo = s.value("guidance/lo", g.lo).toDouble();
    g.hi = s.value("guidance/hi", -1.0).toDouble();
    if (g.hi < 0) g.hi = std::numeric_limits<double>::infinity();
    if (!(g.lo >= 0) || !(g.hi > g.lo)) g.lo = 0, g.hi = std::numeric_limits<double>::infinity();  // stored empty
    g.steps = s.value("guidance/steps", g.steps).toInt();
    g.seed = s.value("guidance/seed", 0).toULongLong();
    g.points = s.value("guidance/points", qlonglong(g.points)).toLongLong();
    g.compare = s.value("guidance/compare", g.compare).toBool();
    g.sampler = s.value("guidance/sampler", "heun").toString() == "euler" ? SamplerKind::Euler : SamplerKind::Heun;
    recent_ = s.value("recent/files").toStringList();
  }
  rebuild_recent_menu();
  guidance_->set_settings(g);
  // A session to open at start-up names the pair: it is loaded here, once (the remembered or shipped pair is not
  // loaded first, nor its tuned ω announced), and open_session finds it in place. A session open_session would
  // refuse (it cannot be read, names no such tab, or its models do not load) leaves the usual pair below, so that
  // its "nothing was changed" holds; open_session, called next, says why.
  if (!opts.session.isEmpty()) {
    bool loaded = false;
    try {
      auto from = std::make_shared<const engine::LiveSession>(
          engine::read_live_session(opts.session.toStdString(), session_defaults()));
      startup_session_ = from, startup_path_ = opts.session;
      // Only for the open that follows start-up (the studio's main, before the event loop runs): a later open of
      // the same file (File ▸ Open, Recent) reads it again.
      QTimer::singleShot(0, this, [this] { startup_session_.reset(); });
      const QSignalBlocker block(models_);
      QString why;  // open_session reports it
      loaded = session_tab(tabs_, from->tab) != -2 &&
               models_->load_pair(QString::fromStdString(from->base), QString::fromStdString(from->aux), &why);
    } catch (const std::exception&) {
      // the same read fails again in open_session, which words it
    }
    if (loaded) {
      Q_EMIT models_replaced();
      return;
    }
  }
  auto pick = [&](const QString& given, const char* key, const char* role) {
    if (!given.isEmpty()) return given;
    const QString remembered = opts.remember ? s.value(key).toString() : QString();
    if (!remembered.isEmpty() && QFileInfo::exists(remembered)) return remembered;
    return shipped_model(role);
  };
  const QString base = pick(opts.base, "models/base", "base"), aux = pick(opts.aux, "models/aux", "aux");
  // A remembered ω belongs to the remembered pair; another pair starts at its tuned ω.
  const bool remembered_pair = opts.remember && s.contains("guidance/omega") && aux == s.value("models/aux").toString();
  {
    const QSignalBlocker block(models_);  // one request once both are in
    const bool ok_base = models_->load(ModelRole::Base, base);
    const bool ok_aux = models_->load(ModelRole::Aux, aux);
    if (!ok_base || !ok_aux)
      messages_->warning("open model files with File ▸ Open, or make new ones with Tools ▸ Train models");
  }
  if (!remembered_pair) start_at_tuned_omega();
  Q_EMIT models_replaced();
}

bool SessionController::start_at_tuned_omega() {
  if (!models_->aux()) return false;
  std::optional<loops::TunedPair> t;
  try {
    t = loops::read_tuned_pair(models_->path(ModelRole::Aux).toStdString());
  } catch (const sims::Error& e) {
    messages_->warning(QString::fromStdString(e.what()));
    return false;
  }
  if (!t) return false;
  // The verdict in today's number format, and where it was measured (samples, held-out real data). A tuning that
  // found no significant gain does not move the guidance there: its ω may make the samples worse.
  const QString verdict = QString::fromStdString(metrics::omega_as_symbol(t->summary()));
  if (!t->significant) {
    messages_->warning(QString("tuned pair without a significant gain: ω stays at %1 (the tuning's ω = %2): %3")
                           .arg(guidance_->settings().omega)
                           .arg(t->omega)
                           .arg(verdict));
    return false;
  }
  GuidanceSettings g = guidance_->settings();
  g.omega = std::clamp(t->omega, -1.0, 3.0);
  guidance_->set_settings(g);
  messages_->info(QString("tuned pair: ω = %1: %2").arg(t->omega).arg(verdict));
  return true;
}

void SessionController::save_settings() {
  if (!remember_) return;
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
  s.setValue("window/geometry", window_->saveGeometry());
}

// [SECTION] Sessions and recent files ------------------------------------------------------

// The file format and its checks live in the core (engine::read_live_session),
// shared with sims-live.
bool SessionController::save_session(const QString& path) {
  engine::LiveSession s = session_of(guidance_->settings());
  s.base = models_->path(ModelRole::Base).toStdString();
  s.aux = models_->path(ModelRole::Aux).toStdString();
  s.denoised = steps_->show_denoised();
  s.trails = steps_->show_trails();
  if (QTabWidget* t = tabs_) s.tab = tab_key(t, t->currentIndex()).toStdString();
  try {
    const std::string text = engine::live_session_text(s);
    io::write_file_atomically(path.toStdString(), text.data(), text.size());
  } catch (const std::exception& e) {
    messages_->error(QString("cannot save the session: %1").arg(QString::fromStdString(sims::error_words(e))));
    return false;
  }
  messages_->info("saved session " + path);
  add_recent("session", QFileInfo(path).absoluteFilePath());
  return true;
}

engine::LiveSession SessionController::session_defaults() const {
  engine::LiveSession d = session_of(guidance_->settings());
  d.denoised = steps_->show_denoised();
  d.trails = steps_->show_trails();
  return d;
}

bool SessionController::open_session(const QString& path) {
  // The start-up session was read once already (load_settings); any later open reads the file.
  const std::shared_ptr<const engine::LiveSession> read = std::move(startup_session_);
  startup_session_.reset();
  if (read && path == startup_path_) return apply_session(path, *read);
  engine::LiveSession s;
  try {
    s = engine::read_live_session(path.toStdString(), session_defaults());
  } catch (const std::exception& e) {
    return refuse_session(path, QString::fromStdString(sims::error_words(e)));
  }
  return apply_session(path, s);
}

bool SessionController::refuse_session(const QString& path, const QString& why) {
  messages_->error(QString("cannot open session '%1': %2 (nothing was changed)").arg(path, why));
  status_->setText("session not opened");
  return false;
}

bool SessionController::apply_session(const QString& path, const engine::LiveSession& s) {
  auto refuse = [&](const QString& why) { return refuse_session(path, why); };
  // Everything is checked before anything changes.
  GuidanceSettings g = guidance_->settings();
  const QString base = QString::fromStdString(s.base), aux = QString::fromStdString(s.aux);
  const int tab = session_tab(tabs_, s.tab);
  if (tab == -2) return refuse(QString("unknown tab '%1'").arg(QString::fromStdString(s.tab)));

  // The models: both load, or neither changes (unchanged files are kept as they are).
  const bool same_models = base == models_->path(ModelRole::Base) && aux == models_->path(ModelRole::Aux) &&
                           models_->base() && (aux.isEmpty() || models_->aux());
  if (!same_models) {
    const QSignalBlocker block(models_);  // one request, below
    QString why;
    if (!models_->load_pair(base, aux, &why)) return refuse(why);
  }
  g.omega = s.omega;
  g.lo = s.lo;
  g.hi = s.hi;
  g.steps = s.steps;
  g.sampler = s.sampler;
  g.seed = s.seed;
  g.points = s.points;
  g.compare = s.compare;
  guidance_->set_settings(g);
  {
    const QSignalBlocker block(steps_);
    steps_->set_show_denoised(s.denoised);
    steps_->set_show_trails(s.trails);
  }
  if (tab >= 0) tabs_->setCurrentIndex(tab);
  messages_->info("opened session " + path);
  add_recent("session", QFileInfo(path).absoluteFilePath());
  if (!same_models) Q_EMIT models_replaced();
  else Q_EMIT settings_restored();
  return true;
}

void SessionController::save_session_dialog() {
  QSettings s;
  QString f = QFileDialog::getSaveFileName(window_, "Save session", s.value("session/last", "session.simsession").toString(),
                                           "SIMS Studio sessions (*.simsession)");
  if (f.isEmpty()) return;
  if (QFileInfo(f).suffix().isEmpty()) f += ".simsession";
  s.setValue("session/last", f);
  save_session(f);
}

void SessionController::open_session_dialog() {
  QSettings s;
  const QString f = QFileDialog::getOpenFileName(window_, "Open session", QFileInfo(s.value("session/last").toString()).absolutePath(),
                                                 "SIMS Studio sessions (*.simsession);;All files (*)");
  if (f.isEmpty()) return;
  s.setValue("session/last", f);
  open_session(f);
}

void SessionController::add_recent(const QString& kind, const QString& path) {
  const QString entry = kind + ":" + QFileInfo(path).absoluteFilePath();
  recent_.removeAll(entry);
  recent_.prepend(entry);
  while (recent_.size() > kRecentMax) recent_.removeLast();
  if (remember_) QSettings().setValue("recent/files", recent_);
  rebuild_recent_menu();
}

void SessionController::rebuild_recent_menu() {
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
    if (remember_) QSettings().remove("recent/files");
    rebuild_recent_menu();
  });
}

}  // namespace sims::ui
