-- Public holidays per province (issue 4): days that are not working days for the
-- kiosk repair allowance, besides weekends. A hall takes its province's holidays.
CREATE TABLE holiday (
    province_id TEXT NOT NULL REFERENCES org_node (id),
    day         TEXT NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (province_id, day)
);
