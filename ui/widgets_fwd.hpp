// Forward declarations of the Qt widget classes the studio's headers hold
// pointers to, so that a header names the widgets it keeps without including
// their definitions.
#pragma once

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QGridLayout;
class QGroupBox;
class QHBoxLayout;
class QLabel;
class QLineEdit;
class QMenu;
class QProgressBar;
class QPushButton;
class QScrollArea;
class QSlider;
class QSpinBox;
class QSplitter;
class QTabWidget;
class QTableWidget;
class QTimer;
class QVBoxLayout;
