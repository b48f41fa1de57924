// The studio's message area: one line per event, errors in red. Every error
// a panel or worker reports ends up here once (never a crash, never a modal
// box for something the user can fix by picking another file).
#pragma once
#include <QPlainTextEdit>

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
  void add(const QString& text, const char* colour);
  int errors_ = 0;
  QString last_error_;
};

}  // namespace sims::ui
