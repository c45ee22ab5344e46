"""Talking to a PACS: DICOM networking (pynetdicom) and DICOMweb (dicomweb-client).

``nodes`` (configured nodes, passwords in the keyring), ``query`` (what to look for, what was found),
``cache`` (retrieved instances, written atomically and checked), ``dimse`` (C-ECHO/FIND/MOVE/GET/STORE),
``dicomweb`` (QIDO-RS/WADO-RS/STOW-RS), ``pacs`` (one facade over both, with the audit records) and
``send`` (the results a run sends back: Secondary Capture, Encapsulated PDF, Structured Report).

BrainLens connects only to nodes the user configured: every entry point takes a ``PacsNode`` that
``nodes.NodeStore.require`` returned, and nothing here opens a connection on its own.
"""
