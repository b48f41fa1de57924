// A word-wrapped label that is always as tall as its wrapped text. QLabel's height-for-width is not
// honoured inside a scroll area's resizable widget: a line that wraps there lost its second line.
#pragma once
#include <QLabel>
#include <QResizeEvent>

namespace sims::ui {

class WrapLabel final : public QLabel {
 public:
  explicit WrapLabel(QWidget* parent = nullptr) : QLabel(parent) { setWordWrap(true); }
  void set_text(const QString& text) {
    setText(text);
    refit();
  }

 protected:
  void resizeEvent(QResizeEvent* e) override {
    QLabel::resizeEvent(e);
    refit();
  }

 private:
  void refit() {
    const int h = heightForWidth(width());
    if (h > 0 && h != minimumHeight()) setMinimumHeight(h);
  }
};

}  // namespace sims::ui
