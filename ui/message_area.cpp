#include "message_area.hpp"

#include <QTime>

namespace sims::ui {
namespace {
const int kKept = 500;
}

MessageArea::MessageArea(QWidget* parent) : QPlainTextEdit(parent) {
  setReadOnly(true);
  setMaximumBlockCount(kKept);
  setPlaceholderText("Messages");
  setFrameShape(QFrame::NoFrame);
  QFont f = font();
  f.setPointSizeF(f.pointSizeF() * 0.92);
  setFont(f);
  connect(ThemeSignals::instance(), &ThemeSignals::changed, this, &MessageArea::rerender);
}

QString MessageArea::html(const Line& l) const {
  return toned(l.time, Tone::Faint) + "&nbsp; " + toned(l.text.toHtmlEscaped(), l.tone);
}

void MessageArea::add(const QString& text, Tone tone) {
  lines_.push_back({QTime::currentTime().toString("HH:mm:ss"), text, tone});
  if (lines_.size() > static_cast<size_t>(kKept)) lines_.pop_front();
  appendHtml(html(lines_.back()));
}

void MessageArea::rerender() {
  clear();
  for (const Line& l : lines_) appendHtml(html(l));
}

void MessageArea::info(const QString& text) { add(text, Tone::Plain); }
void MessageArea::warning(const QString& text) { add(text, Tone::Warning); }
void MessageArea::error(const QString& text) {
  ++errors_;
  last_error_ = text;
  add("error: " + text, Tone::Error);
}

}  // namespace sims::ui
