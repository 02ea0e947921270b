-- Issue 22: the way to each tenant's Recordings list that worked last (the address the browser
-- showed on the list, how it was reached, and whether the start page shows the login form to a
-- signed-in session), so the next pass, on any replica, starts with it. Worker-owned; additive.
CREATE TABLE IF NOT EXISTS console_ways (
    tenant_id       INTEGER     PRIMARY KEY,
    address         TEXT        NOT NULL,
    came_by         TEXT        NOT NULL CHECK (came_by IN ('route', 'menu', 'start_page_menu')),
    login_at_start  BOOLEAN     NOT NULL DEFAULT false,
    found_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
