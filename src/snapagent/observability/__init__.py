"""What the server tells operators: JSON logs, Prometheus metrics, EMF lines, traces.

See docs/observability.md. The app factory wires everything through
:func:`snapagent.observability.install.install_observability`.
"""
