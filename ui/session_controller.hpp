// The studio's memory: session files (*.simsession, JSON), the recent-files
// list and its menu, and the settings kept between runs (QSettings: the live
// settings, the model files, the window geometry). It reads and writes the
// panels it is given; the live view hears about the result through
// models_replaced() / settings_restored() and samples once.
#pragma once
#include <memory>

#include <QObject>
#include <QStringList>

#include "studio_options.hpp"

#include "widgets_fwd.hpp"
class QMainWindow;

namespace sims::engine {
struct LiveSession;
}

namespace sims::ui {

class GuidancePanel;
class MessageArea;
class ModelsPanel;
class StepViewer;

class SessionController final : public QObject {
  Q_OBJECT
 public:
  // status: the window's status-bar line; remember: read and write QSettings.
  SessionController(QMainWindow* window, ModelsPanel* models, GuidancePanel* guidance, StepViewer* steps,
                    QTabWidget* tabs, MessageArea* messages, QLabel* status, bool remember);

  // Session files: the model files, the live settings (omega, interval,
  // steps, sampler, seed, points, compare), the step viewer's mode and the
  // tab shown. Saving is atomic; opening a missing or bad file says why in
  // the message area and changes nothing.
  bool save_session(const QString& path);
  bool open_session(const QString& path);

  // Recently used files, newest first, as "session:PATH", "base:PATH" or "aux:PATH" (at most 8).
  QStringList recent_files() const { return recent_; }
  void add_recent(const QString& kind, const QString& path);
  // The "Open recent" submenu this controller fills.
  void set_recent_menu(QMenu* menu);

  // Start-up: the remembered settings and recent files (when remembering),
  // then the models: given ones, else remembered ones that still exist,
  // else the shipped ones. Emits models_replaced().
  void load_settings(const StudioOptions& opts);
  // On close (when remembering).
  void save_settings();
  void restore_geometry();
  // The loaded auxiliary's tuned-pair file (`sims tune`, loops/tune.hpp), if
  // any: sets the live ω to the tuned one and says what it gained. Returns
  // whether there was one.
  bool start_at_tuned_omega();

 public Q_SLOTS:
  void save_session_dialog();
  void open_session_dialog();

 Q_SIGNALS:
  // Other models are loaded (the live view starts over).
  void models_replaced();
  // The same models, other settings (the live view asks for them).
  void settings_restored();

 private:
  void rebuild_recent_menu();
  engine::LiveSession session_defaults() const;  // what a session file does not say: the current settings
  bool apply_session(const QString& path, const engine::LiveSession& s);
  bool refuse_session(const QString& path, const QString& why);  // says why in the messages; false

  QMainWindow* window_;
  ModelsPanel* models_;
  GuidancePanel* guidance_;
  StepViewer* steps_;
  QTabWidget* tabs_;
  MessageArea* messages_;
  QLabel* status_;
  bool remember_;
  QStringList recent_;
  QMenu* recent_menu_ = nullptr;
  // The --session file as read at start-up (to load its pair first), handed to open_session, which then does not
  // read it again.
  std::shared_ptr<const engine::LiveSession> startup_session_;
  QString startup_path_;
};

}  // namespace sims::ui
