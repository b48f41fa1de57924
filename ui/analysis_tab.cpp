#include "analysis_tab.hpp"
#include "metrics/uncertainty.hpp"
#include "theme.hpp"

#include <algorithm>
#include <cmath>

#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMenu>
#include <QProgressBar>
#include <QScrollArea>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStyle>
#include <QTableWidget>
#include <QVBoxLayout>

#include "analysis_chart.hpp"
#include "common/error.hpp"
#include "message_area.hpp"

namespace sims::ui {

QString progress_line(const engine::JobProgress& p, bool minutes) {
  QString line = QString::fromStdString(p.message);
  if (p.eta < 0) return line;
  if (!minutes) return line + QString(" · about %1 s left").arg(p.eta, 0, 'f', 0);
  if (p.fraction > 0.02) line += QString(" · about %1 min left").arg(std::max(1.0, std::round(p.eta / 60)));
  return line;
}

// [SECTION] JobControls -------------------------------------------------------------------

JobControls::JobControls(engine::JobRunner* runner, MessageArea* messages, const QString& noun, const QString& id,
                         const QString& run_text, QWidget* owner)
    : QObject(owner), runner_(runner), messages_(messages), noun_(noun), cancel_text_("Cancelling…") {
  run_ = new QPushButton(run_text, owner);
  run_->setObjectName(id + "Run");
  cancel_ = new QPushButton("Cancel", owner);
  cancel_->setObjectName(id + "Cancel");
  bar_ = new QProgressBar(owner);
  bar_->setRange(0, 1000);
  bar_->setFormat("%p%");
  status_ = new QLabel("Idle", owner);
  status_->setObjectName(id + "Status");
  connect(cancel_, &QPushButton::clicked, this, &JobControls::cancel);
  set_running(false);
}

void JobControls::lock_while_running(std::initializer_list<QWidget*> widgets) {
  for (QWidget* w : widgets) {
    locked_.push_back(w);
    w->setEnabled(!running());
  }
}

void JobControls::set_running(bool running) {
  run_->setEnabled(!running);
  cancel_->setEnabled(running);
  for (QWidget* w : locked_) w->setEnabled(!running);
}

void JobControls::set_status(const QString& text) { status_->setText(text); }

void JobControls::refuse(const QString& why) {
  messages_->error(noun_ + ": " + why);
  status_->setText("Not started: " + why);
}

engine::JobPtr JobControls::start(const std::string& name, engine::JobFn fn) {
  bar_->setValue(0);
  status_->setText("Starting…");
  set_running(true);
  // Worker thread -> UI thread: queued calls on this object, dropped once it is gone. The end
  // carries the job's id, so that a late event of an earlier job never unlocks a running one.
  engine::JobCallbacks cb;
  cb.on_progress = [this](const engine::JobProgress& p) {
    QMetaObject::invokeMethod(this, [this, p] { on_progress(p); }, Qt::QueuedConnection);
  };
  cb.on_done = [this](const engine::Job& j) {
    const uint64_t id = j.id();
    const engine::JobState s = j.state();
    const QString error = QString::fromStdString(j.error());
    QMetaObject::invokeMethod(this, [this, id, s, error] { on_done(id, s, error); }, Qt::QueuedConnection);
  };
  job_ = runner_->submit(name, std::move(fn), cb);
  return job_;
}

void JobControls::cancel() {
  if (!running()) return;
  job_->cancel();
  status_->setText(cancel_text_);
  cancel_->setEnabled(false);
}

void JobControls::on_progress(const engine::JobProgress& p) {
  if (!running()) return;
  bar_->setValue(static_cast<int>(std::lround(p.fraction * 1000)));
  status_->setText(progress_text_ ? progress_text_(p) : progress_line(p));
  Q_EMIT progressed(p);
}

void JobControls::on_done(uint64_t id, engine::JobState s, const QString& error) {
  if (!job_ || job_->id() != id) return;
  set_running(false);
  if (s == engine::JobState::Finished) bar_->setValue(1000);
  if (s == engine::JobState::Failed) {
    status_->setText("Failed: " + error);
    messages_->error(noun_ + " failed: " + error);
  }
  Q_EMIT ended(static_cast<int>(s), error);
}

// [SECTION] AnalysisTab: the frame ---------------------------------------------------------

int side_panel_width() { return 360; }

QScrollArea* side_scroll(QWidget* panel, QWidget* parent) {
  auto* scroll = new QScrollArea(parent);
  scroll->setWidget(panel);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  fit_side_width(scroll);
  return scroll;
}

void fit_side_width(QScrollArea* scroll) {
  // Combo boxes give up their longest item's width (the popup still shows it whole).
  for (QComboBox* c : scroll->widget()->findChildren<QComboBox*>()) {
    c->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    c->setMinimumContentsLength(std::min(c->minimumContentsLength() > 0 ? c->minimumContentsLength() : 14, 14));
  }
  // Room for the panel's widest row next to the scroll bar, and never narrower than the other tabs' panels.
  const int bar = scroll->style()->pixelMetric(QStyle::PM_ScrollBarExtent, nullptr, scroll);
  scroll->setFixedWidth(std::max(side_panel_width(), scroll->widget()->minimumSizeHint().width() + bar + 2));
}

AnalysisTab::AnalysisTab(const AnalysisTabSpec& spec, MessageArea* messages, QWidget* parent)
    : QWidget(parent), spec_(spec), messages_(messages), runner_(std::make_unique<engine::JobRunner>()) {
  auto* panel = new QWidget(this);
  panel->setObjectName(spec.noun + "Panel");
  side_ = new QVBoxLayout(panel);
  side_->setContentsMargins(6, 6, 6, 6);
  auto* heading = new QLabel("<b>" + spec.form_title.toHtmlEscaped() + "</b>", panel);
  heading->setWordWrap(true);
  side_->addWidget(heading);

  box_ = new QGroupBox("Settings", panel);
  form_ = new QGridLayout(box_);
  form_->setHorizontalSpacing(6);
  form_->setColumnStretch(1, 1);
  side_->addWidget(box_);

  jobs_ = new JobControls(runner_.get(), messages, spec.noun, spec.noun, spec.run_text, panel);
  jobs_->lock_while_running({box_});
  jobs_->status()->setWordWrap(true);
  connect(jobs_->run_button(), &QPushButton::clicked, this, &AnalysisTab::start);
  connect(jobs_, &JobControls::ended, this, [this](int s, const QString&) {
    if (s != static_cast<int>(engine::JobState::Failed)) job_ended(static_cast<engine::JobState>(s));
    Q_EMIT finished(s);
  });
  export_ = new QPushButton("Export ▾", panel);
  export_->setObjectName(spec.noun + "Export");
  connect(export_, &QPushButton::clicked, this, &AnalysisTab::export_menu);

  // The actions, the progress bar and the status line sit under the scrolled settings, so a form taller than a
  // 1280 x 720 window never hides the Run button or how the run went.
  auto* footer = new QWidget(this);
  footer->setObjectName(spec.noun + "Actions");
  footer->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);  // as wide as the settings above, no wider
  footer_ = new QVBoxLayout(footer);
  footer_->setContentsMargins(6, 4, 6, 6);
  actions_ = new QHBoxLayout;
  actions_->addWidget(jobs_->run_button(), 1);
  actions_->addWidget(jobs_->cancel_button());
  actions_->addWidget(export_);
  footer_->addLayout(actions_);
  footer_->addWidget(jobs_->bar());
  footer_->addWidget(jobs_->status());

  about_ = new QLabel(panel);
  about_->setObjectName(spec.noun + "About");
  about_->setWordWrap(true);
  set_tone(about_, Tone::Muted);
  side_->addWidget(about_);
  side_->addStretch(1);
  // Wrapped lines never widen the panel (a long path in a status line would be cut off at its right edge).
  for (QLabel* l : {heading, jobs_->status(), about_}) l->setMinimumWidth(1);

  auto* results = new QWidget(this);
  body_ = new QVBoxLayout(results);
  body_->setContentsMargins(0, 6, 6, 6);
  auto* h = new QHBoxLayout(this);
  h->setContentsMargins(0, 0, 0, 0);
  h->setSpacing(4);
  side_scroll_ = side_scroll(panel, this);
  auto* left = new QVBoxLayout;
  left->setContentsMargins(0, 0, 0, 0);
  left->setSpacing(0);
  left->addWidget(side_scroll_, 1);
  left->addWidget(footer);
  h->addLayout(left);
  h->addWidget(results, 1);
}

AnalysisTab::~AnalysisTab() {
  // Cancel and join the worker before the widgets its queued calls point at go.
  runner_.reset();
}

QLabel* AnalysisTab::add_field(const QString& label, QWidget* field) {
  const int row = form_rows_++;
  auto* l = new QLabel(label, box_);
  l->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
  l->setBuddy(field);
  form_->addWidget(l, row, 0);
  form_->addWidget(field, row, 1);
  return l;
}

void AnalysisTab::add_form_row(QWidget* w) { form_->addWidget(w, form_rows_++, 0, 1, 2); }

void AnalysisTab::add_action(QWidget* w) { footer_->insertWidget(footer_->indexOf(jobs_->bar()), w); }

bool AnalysisTab::event(QEvent* e) {
  if (e->type() == QEvent::Polish) {  // once, before the tab is first shown: the form is complete
    order_focus_chain();
    fit_side_width(side_scroll_);
  }
  return QWidget::event(e);
}

void AnalysisTab::order_focus_chain() {
  // The actions row was made before the tab filled its form; Tab visits the form first, as it reads.
  QWidget* last = nullptr;
  for (QWidget* w = nextInFocusChain(); w && w != this; w = w->nextInFocusChain())
    if (box_->isAncestorOf(w) && (w->focusPolicy() & Qt::TabFocus) && !w->focusProxy()) last = w;
  if (!last) return;
  for (int i = 0; i < actions_->count(); ++i)
    if (QWidget* w = actions_->itemAt(i)->widget(); w && (w->focusPolicy() & Qt::TabFocus)) {
      QWidget::setTabOrder(last, w);
      last = w;
    }
}

// [SECTION] Running ------------------------------------------------------------------------

void AnalysisTab::start() {
  if (running()) return;
  engine::JobFn fn;
  try {
    fn = prepare_job();
  } catch (const Error& e) {
    jobs_->refuse(e.what());
    return;
  }
  jobs_->start(spec_.noun.toStdString(), std::move(fn));
}

void AnalysisTab::cancel() { jobs_->cancel(); }

// [SECTION] Results table ------------------------------------------------------------------

QTableWidget* AnalysisTab::make_table(int min_height) {
  auto* t = new QTableWidget(this);
  t->setObjectName(spec_.noun + "Table");
  t->setEditTriggers(QAbstractItemView::NoEditTriggers);
  t->setSelectionBehavior(QAbstractItemView::SelectRows);
  t->verticalHeader()->setVisible(false);
  // Columns as wide as their headers and values (a narrow window scrolls the table sideways rather than
  // clipping them); none stretched to fill the width (a last "seconds" or "NFE" column 200-400 px wide).
  t->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  t->horizontalHeader()->setStretchLastSection(false);
  t->setWordWrap(false);
  t->setMinimumHeight(min_height);
  return t;
}

QString AnalysisTab::with_ci(double v, double lo, double hi, int most) {
  if (std::isnan(v)) return "–";
  if (std::isinf(v)) return v > 0 ? "diverged" : "-inf";
  metrics::Estimate e;
  e.value = v, e.lo = lo, e.hi = hi;
  return QString::fromStdString(e.precise_text(most, "\u2009±\u2009"));
}

void AnalysisTab::set_columns(QTableWidget* t, const QStringList& columns) {
  t->clear();
  t->setRowCount(0);
  t->setColumnCount(static_cast<int>(columns.size()));
  t->setHorizontalHeaderLabels(columns);
}

void AnalysisTab::set_row(QTableWidget* t, int row, const QStringList& cells) {
  if (row >= t->rowCount()) t->insertRow(row);
  for (int c = 0; c < cells.size(); ++c) {
    auto* item = new QTableWidgetItem(cells[c]);
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    t->setItem(row, c, item);
  }
}

// [SECTION] Exports ------------------------------------------------------------------------

bool AnalysisTab::export_with(const QString& path, const std::function<bool(QString* error)>& write) {
  QString err = spec_.nothing_to_export;
  if (has_results() && write(&err)) {
    messages_->info("exported " + path);
    return true;
  }
  messages_->error(spec_.noun + " export: " + err);
  return false;
}

bool AnalysisTab::export_csv(const QString& path) {
  return export_with(path, [&](QString* err) { return save_bytes(path, QByteArray::fromStdString(results_csv()), err); });
}

ChartExportOptions AnalysisTab::chart_export() const {
  QSettings s;
  ChartExportOptions o;
  o.width = s.value("export/chartWidth", 900).toInt();
  o.height_each = s.value("export/chartHeight", spec_.export_chart_height).toInt();
  o.dpi = s.value("export/chartDpi", 96).toInt();
  o = clamped(o);
  o.caption = export_caption();
  return o;
}

void AnalysisTab::set_chart_export(const ChartExportOptions& given) {
  const ChartExportOptions o = clamped(given);
  QSettings s;
  s.setValue("export/chartWidth", o.width);
  s.setValue("export/chartHeight", o.height_each);
  s.setValue("export/chartDpi", o.dpi);
}

bool AnalysisTab::export_png(const QString& path) {
  return export_with(path, [&](QString* err) {
    const QImage img = charts_image(export_charts(), chart_export());
    if (img.isNull()) {
      *err = "the charts at this size and resolution would be over 200 million pixels: lower the dpi or the size "
             "(Export ▾ → Chart size), or export SVG or PDF";
      return false;
    }
    return save_png(path, img, err);
  });
}

bool AnalysisTab::export_svg(const QString& path) {
  return export_with(path, [&](QString* err) {
    return save_bytes(path, charts_svg(export_charts(), chart_export()).toUtf8(), err);
  });
}

bool AnalysisTab::export_pdf(const QString& path) {
  return export_with(path, [&](QString* err) {
    const QByteArray pdf = charts_pdf(export_charts(), chart_export());
    if (pdf.isEmpty()) {
      *err = "the PDF writer could not start";
      return false;
    }
    return save_bytes(path, pdf, err);
  });
}

void AnalysisTab::chart_size_dialog() {
  ChartExportOptions o = chart_export();
  QDialog d(this);
  d.setWindowTitle("Chart export size");
  auto* form = new QFormLayout(&d);
  auto spin = [&](int lo, int hi, int v, const QString& suffix) {
    auto* b = new QSpinBox(&d);
    b->setRange(lo, hi);
    b->setValue(v);
    b->setSuffix(suffix);
    return b;
  };
  auto* width = spin(300, 4000, o.width, " px");
  auto* height = spin(200, 3000, o.height_each, " px");
  auto* dpi = spin(72, 600, o.dpi, " dpi");
  width->setObjectName("chartWidth");
  height->setObjectName("chartHeight");
  dpi->setObjectName("chartDpi");
  form->addRow("Width:", width);
  form->addRow("Height of each chart:", height);
  form->addRow("PNG resolution:", dpi);
  auto* note = new QLabel("Sizes in CSS pixels (1/96 inch), as in the SVG and PDF; a PNG at 192 dpi has twice as "
                          "many pixels each way and records its resolution. The caption with the run's settings "
                          "goes under the charts.", &d);
  note->setWordWrap(true);
  note->setMaximumWidth(360);
  form->addRow(note);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &d);
  connect(buttons, &QDialogButtonBox::accepted, &d, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, &d, &QDialog::reject);
  form->addRow(buttons);
  if (d.exec() != QDialog::Accepted) return;
  o.width = width->value();
  o.height_each = height->value();
  o.dpi = dpi->value();
  set_chart_export(o);
}

void AnalysisTab::export_menu() {
  // Each file dialog starts in the folder of this tab's last export.
  const QString noun = spec_.noun, key = "export/" + noun + "Dir";
  auto ask = [this, key](const QString& what, const QString& name, const QString& filter) {
    QSettings s;
    const QString dir = s.value(key, QString()).toString();
    const QString f = QFileDialog::getSaveFileName(this, what, dir.isEmpty() ? name : dir + "/" + name, filter);
    if (!f.isEmpty()) s.setValue(key, QFileInfo(f).absolutePath());
    return f;
  };
  QMenu m(this);
  m.addAction("Charts as PNG…", this, [=] {
    const QString f = ask("Export the " + noun + " charts as PNG", noun + ".png", "PNG images (*.png)");
    if (!f.isEmpty()) export_png(f);
  });
  m.addAction("Charts as SVG…", this, [=] {
    const QString f = ask("Export the " + noun + " charts as SVG", noun + ".svg", "SVG drawings (*.svg)");
    if (!f.isEmpty()) export_svg(f);
  });
  m.addAction("Charts as PDF…", this, [=] {
    const QString f = ask("Export the " + noun + " charts as PDF", noun + ".pdf", "PDF documents (*.pdf)");
    if (!f.isEmpty()) export_pdf(f);
  });
  m.addAction("Table as CSV…", this, [=] {
    const QString f = ask(spec_.csv_title, noun + ".csv", "CSV tables (*.csv)");
    if (!f.isEmpty()) export_csv(f);
  });
  m.addSeparator();
  const ChartExportOptions o = chart_export();
  m.addAction(QString("Chart size: %1 × %2 px each, PNG at %3 dpi…").arg(o.width).arg(o.height_each).arg(o.dpi), this,
              [this] { chart_size_dialog(); });
  m.exec(export_->mapToGlobal(QPoint(0, export_->height())));
}

}  // namespace sims::ui
