//! Ownership of every type C passes by pointer, declared once per type
//! (rustls-ffi's `Castable`). A handle type says whether C holds a `Box`
//! (one owner) or an `Arc` (shared, reference-counted); a library-made
//! block (a response, a message) says `()`; a struct the caller fills in
//! or lends for one call says `CallerOwned`. The helpers only accept the
//! matching kind, so a boxed handle cannot be freed as an Arc, and only a
//! Box or the caller's own struct is ever borrowed `mut`. `Box::from_raw`
//! and `Arc::from_raw` appear nowhere else.
use std::sync::Arc;

pub(crate) struct OwnedBox;
pub(crate) struct OwnedArc;
/// The caller's memory, lent for the duration of one call.
pub(crate) struct CallerOwned;

/// Ownership kinds whose values one call may borrow `mut`: a Box used by
/// one thread at a time, or the caller's own struct.
pub(crate) trait Exclusive {}
impl Exclusive for OwnedBox {}
impl Exclusive for CallerOwned {}

/// Links an opaque C type to the Rust value behind its pointer.
pub(crate) trait Castable {
    type Ownership;
    type RustType;
}

pub(crate) fn to_boxed_ptr<C: Castable<Ownership = OwnedBox>>(v: C::RustType) -> *mut C {
    Box::into_raw(Box::new(v)).cast()
}

pub(crate) fn to_arc_ptr<C: Castable<Ownership = OwnedArc>>(v: Arc<C::RustType>) -> *const C {
    Arc::into_raw(v).cast()
}

/// # Safety
/// `p` is NULL or came from `to_boxed_ptr` / `to_arc_ptr` for `C` and was
/// not freed, or points to a live value of `C` (a block, the caller's struct).
#[inline]
pub(crate) unsafe fn try_ref<'a, C: Castable>(p: *const C) -> Option<&'a C::RustType> {
    // SAFETY: per the contract, a non-NULL `p` points to a live `C::RustType`.
    unsafe { p.cast::<C::RustType>().as_ref() }
}

/// # Safety
/// `p` is NULL, or came from `to_boxed_ptr` for `C` and was not freed, or
/// is the caller's writable struct; no other reference to it is live (C's
/// "one thread at a time" rule).
#[inline]
pub(crate) unsafe fn try_mut<'a, C: Castable>(p: *mut C) -> Option<&'a mut C::RustType>
where
    C::Ownership: Exclusive,
{
    // SAFETY: per the contract, a non-NULL `p` is live and unaliased.
    unsafe { p.cast::<C::RustType>().as_mut() }
}

/// # Safety
/// `p` is NULL or came from `to_arc_ptr` for `C` and was not freed.
pub(crate) unsafe fn clone_arc<C: Castable<Ownership = OwnedArc>>(
    p: *const C,
) -> Option<Arc<C::RustType>> {
    if p.is_null() {
        return None;
    }
    let p = p.cast::<C::RustType>();
    // SAFETY: `p` came from `Arc::into_raw` and the caller's reference is
    // still counted, so taking one more is sound.
    unsafe {
        Arc::increment_strong_count(p);
        Some(Arc::from_raw(p))
    }
}

/// # Safety
/// `p` is NULL or came from `to_boxed_ptr` for `C` and was not freed.
pub(crate) unsafe fn free_box<C: Castable<Ownership = OwnedBox>>(p: *mut C) {
    if !p.is_null() {
        // SAFETY: per the contract, `p` is the Box's pointer, freed once.
        drop(unsafe { Box::from_raw(p.cast::<C::RustType>()) });
    }
}

/// Takes the value out of a boxed handle, freeing the box: for calls that
/// consume their argument (a builder's `_build`).
///
/// # Safety
/// `p` is NULL or came from `to_boxed_ptr` for `C` and was not freed; the
/// caller never uses `p` again.
pub(crate) unsafe fn take_box<C: Castable<Ownership = OwnedBox>>(p: *mut C) -> Option<C::RustType> {
    if p.is_null() {
        return None;
    }
    // SAFETY: per the contract, `p` is the Box's pointer, taken once.
    Some(*unsafe { Box::from_raw(p.cast::<C::RustType>()) })
}

/// # Safety
/// `p` is NULL or came from `to_arc_ptr` for `C`, and the caller gives up
/// its reference.
pub(crate) unsafe fn free_arc<C: Castable<Ownership = OwnedArc>>(p: *const C) {
    if !p.is_null() {
        // SAFETY: per the contract, this drops exactly the caller's reference.
        drop(unsafe { Arc::from_raw(p.cast::<C::RustType>()) });
    }
}
