//! Places among the jobs running at once, shared fairly between users: a free place goes
//! to the users with jobs waiting in turn (round robin across their queues, each queue in
//! submit order), and no user holds more than its share (`serve --per-user`), so one
//! user's flood of jobs delays another's by at most one job's length.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

pub struct FairSlots {
    concurrency: usize,
    per_user: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    running: usize,
    by_user: HashMap<String, usize>,
    waiting: HashMap<String, VecDeque<oneshot::Sender<Slot>>>,
    /// Users with jobs waiting, in the order their turn comes.
    turn: VecDeque<String>,
}

/// One place, held by a running job; given back (to the next in turn) when dropped.
pub struct Slot {
    slots: Arc<FairSlots>,
    user: String,
    held: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.held {
            self.slots.release(&self.user);
        }
    }
}

impl FairSlots {
    /// `concurrency` places in all, at most `per_user` of them for one user.
    pub fn new(concurrency: usize, per_user: usize) -> Arc<Self> {
        Arc::new(FairSlots {
            concurrency: concurrency.max(1),
            per_user: per_user.clamp(1, concurrency.max(1)),
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for one of `user`'s jobs, once its turn comes. The job joins its user's
    /// queue when this is called, not when the future is first polled, so jobs start in
    /// the order they were dispatched whichever task runs first. Dropping the future while
    /// it waits gives up its turn.
    pub fn acquire(self: &Arc<Self>, user: &str) -> impl std::future::Future<Output = Slot> {
        let rx = {
            let mut state = self.state();
            let (tx, rx) = oneshot::channel();
            let queue = state.waiting.entry(user.to_owned()).or_default();
            queue.push_back(tx);
            if queue.len() == 1 {
                state.turn.push_back(user.to_owned());
            }
            // Granted at once when a place is free and it is this user's turn.
            self.hand_out(&mut state);
            rx
        };
        // The sender lives in the queue until a place is sent through it.
        async move {
            rx.await
                .expect("a waiting job's place is sent, never dropped")
        }
    }

    fn grant(self: &Arc<Self>, state: &mut State, user: &str) -> Slot {
        state.running += 1;
        *state.by_user.entry(user.to_owned()).or_default() += 1;
        Slot {
            slots: self.clone(),
            user: user.to_owned(),
            held: true,
        }
    }

    fn release(self: &Arc<Self>, user: &str) {
        let mut state = self.state();
        state.running -= 1;
        if let Some(n) = state.by_user.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                state.by_user.remove(user);
            }
        }
        self.hand_out(&mut state);
    }

    /// Gives free places to waiting jobs, a user at a time in turn.
    fn hand_out(self: &Arc<Self>, state: &mut State) {
        let mut passed = 0;
        while state.running < self.concurrency && passed < state.turn.len() {
            let user = state.turn.pop_front().expect("a user in turn");
            let mine = state.by_user.get(&user).copied().unwrap_or(0);
            if mine >= self.per_user {
                state.turn.push_back(user);
                passed += 1;
                continue;
            }
            let next = state.waiting.get_mut(&user).and_then(VecDeque::pop_front);
            let more = state.waiting.get(&user).is_some_and(|q| !q.is_empty());
            if more {
                state.turn.push_back(user.clone());
            } else {
                state.waiting.remove(&user);
            }
            let Some(tx) = next else { continue };
            let slot = self.grant(state, &user);
            if let Err(mut unsent) = tx.send(slot) {
                // That job gave up waiting (cancelled): the place goes to the next.
                unsent.held = false;
                state.running -= 1;
                if let Some(n) = state.by_user.get_mut(&user) {
                    *n -= 1;
                }
            }
            passed = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn taken(fut: impl std::future::Future<Output = Slot>) -> Option<Slot> {
        tokio::time::timeout(Duration::from_millis(50), fut)
            .await
            .ok()
    }

    #[tokio::test]
    async fn a_freed_place_goes_to_the_next_user_in_turn() {
        let slots = FairSlots::new(2, 2);
        let a1 = slots.acquire("alice").await;
        let a2 = slots.acquire("alice").await;
        // Alice queues many; Bob one, after them.
        let mut alice: Vec<_> = (0..5)
            .map(|_| {
                let s = slots.clone();
                tokio::spawn(async move { s.acquire("alice").await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let bob = tokio::spawn({
            let s = slots.clone();
            async move { s.acquire("bob").await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(a1);
        // Alice's first waiter was first in turn; Bob is next, before Alice's other four.
        let first = alice.remove(0).await.unwrap();
        drop(a2);
        let bob = tokio::time::timeout(Duration::from_secs(1), bob)
            .await
            .expect("bob's turn came")
            .unwrap();
        assert_eq!(bob.user, "bob");
        drop((first, bob));
        for waiter in alice {
            waiter.abort();
        }
    }

    #[tokio::test]
    async fn jobs_of_one_user_start_in_submit_order_whichever_task_runs_first() {
        let slots = FairSlots::new(2, 1);
        let first = slots.acquire("alice");
        let second = slots.acquire("alice");
        // The second job's task happens to run first: its place still comes after the first.
        assert!(taken(second).await.is_none(), "the second went ahead");
        assert!(taken(first).await.is_some(), "the first job's turn");
    }

    #[tokio::test]
    async fn no_user_holds_more_than_its_share_and_a_gone_waiter_passes_its_turn() {
        let slots = FairSlots::new(3, 1);
        let a = slots.acquire("alice").await;
        assert!(
            taken(slots.acquire("alice")).await.is_none(),
            "over alice's share"
        );
        let b = taken(slots.acquire("bob")).await.expect("bob has a share");
        drop(a);
        let a = taken(slots.acquire("alice")).await.expect("alice again");
        drop((a, b));
        assert_eq!(slots.state().running, 0);
        assert!(slots.state().turn.is_empty() || slots.state().waiting.is_empty());
    }
}
