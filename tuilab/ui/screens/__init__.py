"""The lab's screens: the main tabbed screen, help, and the pickers; each has its own .tcss in tuilab/ui."""
