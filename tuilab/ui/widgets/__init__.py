"""The lab's panes; each renders what the app hands it and posts messages for what the user chose."""
