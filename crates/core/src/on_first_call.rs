//! An AWS client made on its first call rather than when the service starts: making one
//! validates its configuration and builds its runtime, which a Lambda cold start would pay
//! for every client (S3, SSM, Lambda, EventBridge Scheduler, ECS) before its first event,
//! whether that event needs them or not.

use std::sync::OnceLock;

pub struct OnFirstCall<C> {
    make: Box<dyn Fn() -> C + Send + Sync>,
    client: OnceLock<C>,
}

impl<C> OnFirstCall<C> {
    /// A client `make` builds when it is first called.
    pub fn new(make: impl Fn() -> C + Send + Sync + 'static) -> Self {
        OnFirstCall {
            make: Box::new(make),
            client: OnceLock::new(),
        }
    }

    /// A client already made.
    pub fn ready(client: C) -> Self {
        let client = OnceLock::from(client);
        OnFirstCall {
            make: Box::new(|| unreachable!("a ready client is never made again")),
            client,
        }
    }
}

impl<C> std::ops::Deref for OnFirstCall<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.client.get_or_init(|| (self.make)())
    }
}
