#include "session_controller.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <QAction>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QMainWindow>
#include <QMenu>
#include <QSettings>
#include <QTabWidget>

#include "common/error.hpp"
#include "io/atomic_file.hpp"
#include "loops/tune.hpp"

#include "guidance_panel.hpp"
#include "message_area.hpp"
#include "models_panel.hpp"
#include "step_viewer.hpp"

namespace sims::ui {
namespace {

const char* kSessionFormat = "sims-studio-session";
const int kRecentMax = 8;

QString tab_key(const QTabWidget* t, int i) { return t->tabText(i).remove('&').trimmed().toLower(); }

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

void SessionController::load_settings(const StudioOptions& opts) {
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
  GuidanceSettings g = guidance_->settings();
  g.omega = std::clamp(t->omega, -1.0, 3.0);
  guidance_->set_settings(g);
  const QString what = t->significant
                           ? QString("tuned pair: ω = %1 (sims tune on %2, %3 samples): %4")
                           : QString("tuned pair, ω = %1 (sims tune on %2, %3 samples), but: %4");
  messages_->info(what.arg(t->omega).arg(QString::fromStdString(t->real)).arg(t->n).arg(QString::fromStdString(t->verdict)));
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

bool SessionController::save_session(const QString& path) {
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
  if (QTabWidget* t = tabs_) root["tab"] = tab_key(t, t->currentIndex());
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

bool SessionController::open_session(const QString& path) {
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
  QTabWidget* tabs = tabs_;
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
