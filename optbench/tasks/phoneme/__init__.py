"""The HW2 framewise phoneme task: libriphone loader (``data``), built-in eSpeak NG corpus (``corpus``,
``espeak``, ``features``, ``labels``), MLP family (``model``), the Task (``task``) and test-set
prediction (``predict``). Importing this package is cheap: its registry entry is in ``entries``, and data
loads when the task is built."""

