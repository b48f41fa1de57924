// What every studio panel that runs a long core job has, in one place.
//
// JobControls: Run and Cancel buttons, a progress bar and a status line for
// one engine job at a time. It starts the job on a JobRunner, brings its
// progress and its end to the UI thread (queued calls; a late event of a
// finished job is dropped), keeps Run/Cancel and the locked inputs in step,
// and reports a failure once ("Failed: …" on the status line, "<noun> failed:
// …" in the message area). Used by the analysis tabs and the Train dialog.
//
// AnalysisTab: the base of the Sweep, Loops and Shift tabs. It lays out what
// they share: a side panel (scrolling, narrow) with the tab's heading, its
// settings (one labelled field per row), the actions (Run, Cancel, Export ▾
// and the tab's own), the bar, the status line and a line saying what Run
// will do; the results fill the rest (body()). It owns a job runner and
// exports the tab's charts (PNG, SVG) and table (CSV) from its Export menu.
// A tab adds its fields, builds its job (prepare_job), draws the rows its job
// streams back and says how a run ended (job_ended).
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include <QObject>
#include <QString>
#include <QStringList>
#include <QWidget>

#include "engine/job_runner.hpp"

class QEvent;
#include "widgets_fwd.hpp"

namespace sims::ui {

struct ChartExportOptions;

class AnalysisChart;
class MessageArea;

// "message · about 42 s left", or with `minutes` "… · about 3 min left" once
// past the first 2 % (a long job's early estimate is noise); the message
// alone while the ETA is unknown.
QString progress_line(const engine::JobProgress& p, bool minutes = false);

class JobControls final : public QObject {
  Q_OBJECT
 public:
  // The widgets are children of `owner` and named <id>Run, <id>Cancel and
  // <id>Status; `noun` prefixes the messages ("sweep failed: …").
  JobControls(engine::JobRunner* runner, MessageArea* messages, const QString& noun, const QString& id,
              const QString& run_text, QWidget* owner);

  QPushButton* run_button() const { return run_; }
  QPushButton* cancel_button() const { return cancel_; }
  QProgressBar* bar() const { return bar_; }
  QLabel* status() const { return status_; }
  engine::JobPtr job() const { return job_; }
  bool running() const { return job_ && !job_->done(); }

  // Widgets disabled while a job runs (Run and Cancel are kept in step here).
  void lock_while_running(std::initializer_list<QWidget*> widgets);
  // The status line's text for a progress event (default: progress_line(p)).
  void set_progress_text(std::function<QString(const engine::JobProgress&)> f) { progress_text_ = std::move(f); }
  // The status line while a cancel is under way (default "Cancelling…").
  void set_cancel_text(const QString& text) { cancel_text_ = text; }

  // Starts `fn` as the job `name`: the bar at 0, "Starting…", inputs locked.
  engine::JobPtr start(const std::string& name, engine::JobFn fn);
  // The job could not start: "<noun>: why" in the message area, "Not started: why" on the status line.
  void refuse(const QString& why);
  void cancel();
  void set_status(const QString& text);

 Q_SIGNALS:
  // UI thread, after the bar and the status line show the event.
  void progressed(const sims::engine::JobProgress& p);
  // UI thread, once per job, after Run is enabled again (and a failure reported).
  void ended(int state, const QString& error);  // engine::JobState

 private:
  void on_progress(const engine::JobProgress& p);
  void on_done(uint64_t id, engine::JobState s, const QString& error);
  void set_running(bool running);

  engine::JobRunner* runner_;
  MessageArea* messages_;
  QString noun_, cancel_text_;
  QPushButton *run_, *cancel_;
  QProgressBar* bar_;
  QLabel* status_;
  std::vector<QWidget*> locked_;
  std::function<QString(const engine::JobProgress&)> progress_text_;
  engine::JobPtr job_;
};

// What makes one analysis tab's frame its own.
struct AnalysisTabSpec {
  QString noun;               // "sweep": messages, the job's name, export file names, object names (sweepRun, …)
  QString form_title;         // the side panel's heading (wrapped)
  QString run_text;           // "Run sweep"
  QString nothing_to_export;  // the message of an export before there are results
  QString csv_title;          // the CSV file dialog's title
  int export_chart_height = 400;  // per chart, in the exports (900 wide), unless the user sets other sizes
};

// The width of the studio's side panels (the Live tab's and the analysis tabs'), scroll bar included.
int side_panel_width();
// `panel` in a vertical scroll area of side_panel_width(), or wider where the panel needs it (it never
// scrolls sideways).
QScrollArea* side_scroll(QWidget* panel, QWidget* parent);
// Sets a side scroll area's width again, once its panel is complete.
void fit_side_width(QScrollArea* scroll);

class AnalysisTab : public QWidget {
  Q_OBJECT
 public:
  ~AnalysisTab() override;

  engine::JobPtr job() const { return jobs_->job(); }
  bool running() const { return jobs_->running(); }
  QPushButton* run_button() const { return jobs_->run_button(); }
  QPushButton* cancel_button() const { return jobs_->cancel_button(); }
  QPushButton* export_button() const { return export_; }
  QLabel* status_label() const { return jobs_->status(); }

  // Something to export (and to show).
  virtual bool has_results() const = 0;
  // The table as CSV, the charts as PNG, SVG or PDF (at chart_export()'s sizes and resolution, with the
  // run's caption); false (and a message) when there is nothing to export yet or the file cannot be written.
  bool export_csv(const QString& path);
  virtual bool export_png(const QString& path);
  virtual bool export_svg(const QString& path);
  virtual bool export_pdf(const QString& path);
  // The charts' export sizes and PNG resolution (kept in the settings); the caption is the run's.
  ChartExportOptions chart_export() const;
  void set_chart_export(const ChartExportOptions& o);
  // What produced the results shown (models, ω, interval, sampler, steps, seed, sizes), under exported charts.
  virtual QString export_caption() const = 0;

 public Q_SLOTS:
  // Builds the job from the form (prepare_job) and runs it; a form the job
  // refuses is a message and "Not started: …". Nothing happens while a job runs.
  void start();
  void cancel();

 Q_SIGNALS:
  void finished(int state);  // engine::JobState

 protected:
  AnalysisTab(const AnalysisTabSpec& spec, MessageArea* messages, QWidget* parent);
  bool event(QEvent* e) override;

  // The job body for the form's settings, after resetting the results for
  // the new run; throws sims::Error (shown as "Not started: …") on bad input.
  virtual engine::JobFn prepare_job() = 0;
  // A run ended (Finished or Cancelled; failures are reported by the frame).
  virtual void job_ended(engine::JobState s) = 0;
  // The table as CSV and the charts that an export shows.
  virtual std::string results_csv() const = 0;
  virtual std::vector<const AnalysisChart*> export_charts() const = 0;
  // The size and resolution dialog of the Export menu.
  void chart_size_dialog();

  MessageArea* messages() const { return messages_; }
  JobControls* jobs() const { return jobs_; }
  // The settings box (locked while a job runs). add_field appends a row: a
  // right-aligned label and the field; add_form_row a widget across both.
  QGroupBox* form_box() const { return box_; }
  QLabel* add_field(const QString& label, QWidget* field);
  void add_form_row(QWidget* w);
  // The results' layout, right of the side panel.
  QVBoxLayout* body() const { return body_; }
  QLabel* about() const { return about_; }
  // Another widget under the Run, Cancel and Export buttons.
  void add_action(QWidget* w);
  void set_status(const QString& text) { jobs_->set_status(text); }

  // A callback for the job's thread that calls f on the UI thread with a
  // copy of its argument (dropped once the tab is gone).
  template <class T, class F>
  std::function<void(const T&)> on_ui(F f) {
    return [this, f](const T& v) { QMetaObject::invokeMethod(this, [f, v] { f(v); }, Qt::QueuedConnection); };
  }

  // A read-only results table named <noun>Table, whole rows selected.
  QTableWidget* make_table(int min_height);
  // Clears the table and sets its columns.
  static void set_columns(QTableWidget* t, const QStringList& columns);
  // Row `row` (appended when it is the row count) with right-aligned cells.
  static void set_row(QTableWidget* t, int row, const QStringList& cells);

 public:
  // A table cell's "0.0009 ± 0.0014": the value to its interval's precision (metrics::Estimate::precise_text),
  // thin spaces around the ±, so that several such columns fit at 1280×720; "–" for NaN. `most`: at most this
  // many decimals (3 for precision and recall).
  static QString with_ci(double v, double lo, double hi, int most = 10);

 private:
  void order_focus_chain();
  void export_menu();
  bool export_with(const QString& path, const std::function<bool(QString* error)>& write);

  AnalysisTabSpec spec_;
  MessageArea* messages_;
  std::unique_ptr<engine::JobRunner> runner_;
  JobControls* jobs_;
  QGroupBox* box_;
  QGridLayout* form_;
  int form_rows_ = 0;
  QHBoxLayout* actions_;
  QVBoxLayout* side_;           // the scrolled part: heading, settings, what runs
  QVBoxLayout* footer_;         // under it, never scrolled away: actions, progress, status
  QScrollArea* side_scroll_;
  QPushButton* export_;
  QLabel* about_;
  QVBoxLayout* body_;
};

}  // namespace sims::ui
