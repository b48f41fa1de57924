// The studio's "Shift" tab: distribution shifting with SIMS (SIMS paper
// Sec. 4.3, Fig. 6; the recipe is loops::run_shift, the same as `sims shift`).
// A form sets the base model, the classifier (also the FD feature net), the
// attribute, the target share, the auxiliary set size, the fine-tuning budget,
// the ω list, the samples per ω and the run folder; Run starts the recipe as a
// background job (progress bar, stage text, Cancel keeps finished stages and
// running again with the same folder continues). The results: the attribute's
// share vs ω (target and auxiliary-set share dashed, ω = 0 = the base ringed),
// FD overall and per group vs ω, a table, and the run's samples.png. "Load
// results…" shows any run folder's results.json without running anything;
// the first time the tab opens it shows the committed docs/repro/shift
// miniature as a labelled example. Exports: charts as PNG/SVG, table as CSV
// (results.csv's columns).
#pragma once
#include <memory>
#include <vector>

#include <QImage>
#include <QString>

#include <nlohmann/json.hpp>

#include "analysis_tab.hpp"
#include "engine/job_runner.hpp"
#include "loops/shift.hpp"

#include "widgets_fwd.hpp"
#include "wrap_label.hpp"

namespace sims::ui {

class AnalysisChart;
class MessageArea;

// What the tab shows: a shift run's results (rows without their sample tensors).
struct ShiftShown {
  loops::ShiftResult result;  // attribute, target, features, pool and aux-set counts, rows
  QString folder;             // where the results came from
  QString classifier;         // the classifier's name, when known
  nlohmann::json config;      // the run's configuration (results.json "config"), or null
  bool finished = true;       // false: a run in progress or cancelled (rows so far)
  bool example = false;       // the committed docs/repro/shift example
};

// Reads DIR/results.json (written by `sims shift` / run_shift). False, with a
// reason a person understands in *error, when DIR or the file is missing,
// not JSON, or not a shift run's results.
bool read_shift_results(const QString& dir, ShiftShown* out, QString* error);

// The committed Fig. 6 miniature (docs/repro/shift in the source tree).
QString shift_example_folder();

class ShiftView final : public AnalysisTab {
  Q_OBJECT
 public:
  explicit ShiftView(MessageArea* messages, QWidget* parent = nullptr);

  // The form as a configuration (settings the form does not show keep the
  // values last given to set_config); throws InputError on a bad ω list.
  loops::ShiftConfig config() const;
  void set_config(const loops::ShiftConfig& c);
  QString run_folder() const;
  void set_run_folder(const QString& dir);

  QPushButton* load_button() const { return load_; }
  AnalysisChart* share_chart() const { return share_chart_; }
  AnalysisChart* fd_chart() const { return fd_chart_; }
  QTableWidget* table() const { return table_; }
  QLabel* source_label() const { return source_; }
  const ShiftShown& shown() const { return shown_; }
  bool has_results() const override { return !shown_.result.rows.empty(); }

  // Shows DIR's results; false (and a message, the view unchanged) when it has none.
  bool load_results(const QString& dir);

  QString export_caption() const override;

 public Q_SLOTS:
  void load_dialog();

 Q_SIGNALS:
  void results_shown(int rows);

 protected:
  void showEvent(QShowEvent* e) override;
  engine::JobFn prepare_job() override;
  void job_ended(engine::JobState s) override;
  std::string results_csv() const override { return shown_.result.to_csv(); }
  std::vector<const AnalysisChart*> export_charts() const override { return {share_chart_, fd_chart_}; }

 private:
  void show_results(const ShiftShown& s);
  void fill_attributes();
  void on_rows(const ShiftShown& partial);
  void describe();
  void style_source();
  void set_samples(const QImage& img, const QString& caption);

  loops::ShiftConfig hidden_;  // settings without a control (seeds, real data size, ...)
  ShiftShown shown_;
  QString running_dir_;        // the run folder of the job started last
  bool first_show_ = true;
  QString classifier_filled_;  // the classifier whose attributes the box lists
  QLineEdit *base_, *classifier_, *omegas_, *folder_;
  QComboBox* attribute_;
  QDoubleSpinBox* target_;
  QSpinBox *n_aux_, *budget_, *n_eval_, *steps_;
  QPushButton* load_;
  QLabel* source_;
  WrapLabel* summary_;  // wraps in the scroll area without losing its second line
  QLabel* samples_caption_;
  QWidget* samples_;
  AnalysisChart *share_chart_, *fd_chart_;
  QTableWidget* table_;
};

}  // namespace sims::ui
