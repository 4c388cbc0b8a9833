//! The WIT world's exports, implemented for any [`App`]: the app's state lives here between
//! calls, created at `init`.

use crate::bindings::Guest;
use crate::{App, UiEvent, Updates};
use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;

thread_local! {
    /// The app's state (one app per core).
    static APP: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// `A` as the core component's exports ([`crate::export!`] names it).
pub struct Exported<A>(PhantomData<A>);

/// Runs `f` on the app, created if `init` has not run (a host calls `init` first).
fn with_app<A: App>(f: impl FnOnce(&mut A, &mut Updates) -> crate::Result) -> Result<(), String> {
    APP.with(|slot| {
        let mut slot = slot.borrow_mut();
        let state = slot.get_or_insert_with(|| Box::new(A::default()));
        let Some(app) = state.downcast_mut::<A>() else {
            return Err("the core's state is of another app type".to_owned());
        };
        f(app, &mut Updates::new()).map_err(|e| e.to_string())
    })
}

impl<A: App> Guest for Exported<A> {
    fn init() -> Result<(), String> {
        APP.with(|slot| *slot.borrow_mut() = Some(Box::new(A::default())));
        with_app::<A>(|app, updates| app.init(updates))
    }

    fn handle_event(message_type: String, payload: String) -> Result<(), String> {
        let event = A::Event::from_message(&message_type, &payload).map_err(|e| e.to_string())?;
        with_app::<A>(|app, updates| app.handle(event, updates))
    }

    fn page_attached() -> Result<(), String> {
        with_app::<A>(|app, updates| app.page_attached(updates))
    }
}
