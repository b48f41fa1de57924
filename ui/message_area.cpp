#include "message_area.hpp"

#include <QTime>

namespace sims::ui {

MessageArea::MessageArea(QWidget* parent) : QPlainTextEdit(parent) {
  setReadOnly(true);
  setMaximumBlockCount(500);
  setPlaceholderText("Messages");
  setFrameShape(QFrame::NoFrame);
  QFont f = font();
  f.setPointSizeF(f.pointSizeF() * 0.92);
  setFont(f);
}

void MessageArea::add(const QString& text, const char* colour) {
  appendHtml(QString("<span style='color:#888'>%1</span>&nbsp; <span style='color:%2'>%3</span>")
                 .arg(QTime::currentTime().toString("HH:mm:ss"), colour, text.toHtmlEscaped()));
}

void MessageArea::info(const QString& text) { add(text, "#333"); }
void MessageArea::warning(const QString& text) { add(text, "#a66a00"); }
void MessageArea::error(const QString& text) {
  ++errors_;
  last_error_ = text;
  add("error: " + text, "#c0392b");
}

}  // namespace sims::ui
