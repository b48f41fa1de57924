// The studio's message area: one line per event, errors in red. Every error
// a panel or worker reports ends up here once (never a crash, never a modal
// box for something the user can fix by picking another file).
#pragma once
#include <deque>

#include <QPlainTextEdit>

#include "theme.hpp"

namespace sims::ui {

class MessageArea final : public QPlainTextEdit {
 public:
  explicit MessageArea(QWidget* parent = nullptr);
  void info(const QString& text);
  void warning(const QString& text);
  void error(const QString& text);
  int error_count() const { return errors_; }
  QString last_error() const { return last_error_; }

 private:
  struct Line {
    QString time, text;
    Tone tone;
  };
  void add(const QString& text, Tone tone);
  QString html(const Line& l) const;
  void rerender();  // after a change of theme: the kept lines in the new colours
  std::deque<Line> lines_;
  int errors_ = 0;
  QString last_error_;
};

}  // namespace sims::ui
