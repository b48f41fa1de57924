// A word-wrapped label that is always as tall as its wrapped text. QLabel's height-for-width is not
// honoured inside a scroll area's resizable widget: a line that wraps there lost its second line.
#pragma once
#include <algorithm>

#include <QEvent>
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
  void changeEvent(QEvent* e) override {  // another font or style (a change of theme) wraps differently
    QLabel::changeEvent(e);
    if (e->type() == QEvent::FontChange || e->type() == QEvent::StyleChange) refit();
  }

 private:
  // Use set_text(): QLabel::setText is not virtual, and a text set with it is refitted only at the next resize.
  void refit() {
    const int h = std::max(0, heightForWidth(width()));
    if (h != minimumHeight()) setMinimumHeight(h);
  }
};

}  // namespace sims::ui
