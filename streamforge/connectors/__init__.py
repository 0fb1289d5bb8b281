"""Protocol clients and codecs shared by the input and the output of a protocol."""
