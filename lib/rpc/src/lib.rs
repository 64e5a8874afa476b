//! The wire protocol between vminsert/vmselect and vmstorage (see `docs/wire-protocol.md`).
