"""One module per log channel: the events each channel records, as mixins of HostBase."""
