-- Issue 24: PostgreSQL's text columns become COLLATE "C" (see migrations/postgres/0047);
-- SQLite's already compare byte by byte (BINARY). This file keeps both backends'
-- migrations numbered alike.
SELECT 1;
