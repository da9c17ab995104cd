// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title BeijingTime
/// @notice Calendar days in Beijing time (UTC+8, no daylight saving), as the rules count them: a period of n days
/// begins the day after the event that starts it and ends at 24:00 of its n-th day (民法典 art. 201: 开始的当日不计入;
/// art. 203: 期间的最后一日的截止时间为二十四时). A card bought at 23:59 on 1 March with 7 days of cooling-off may be
/// refunded until 24:00 on 8 March, Beijing time.
/// @dev Days are numbered from 1970-01-01 (Beijing), so day n starts at n * 86400 - 28800 (UTC seconds). Rounding is
/// stated per function; every function is pure and exact for any timestamp a block can have.
library BeijingTime {
    /// @notice Beijing's offset from UTC.
    uint256 internal constant OFFSET = 8 hours;

    /// @notice The Beijing calendar day `timestamp` falls on.
    function dayOf(uint256 timestamp) internal pure returns (uint256) {
        return (timestamp + OFFSET) / 1 days;
    }

    /// @notice The instant Beijing day `day` starts (00:00 Beijing, which is 24:00 of day `day - 1`).
    function startOf(uint256 day) internal pure returns (uint256) {
        return day * 1 days - OFFSET;
    }

    /// @notice The day whose start ends a period of `days_` days begun by an event at `timestamp`: the period ends at
    /// 24:00 of the `days_`-th day after the event's day, which is the start of day dayOf(timestamp) + days_ + 1.
    function dayEndingPeriod(uint256 timestamp, uint256 days_) internal pure returns (uint256) {
        return dayOf(timestamp) + days_ + 1;
    }

    /// @notice When a period of `days_` days begun by an event at `timestamp` ends (24:00 Beijing of its last day).
    function endOfPeriod(uint256 timestamp, uint256 days_) internal pure returns (uint256) {
        return startOf(dayEndingPeriod(timestamp, days_));
    }

    /// @notice The first day that starts at or after `timestamp`: an instant rounded UP to the next Beijing midnight
    /// (itself if it is one), as a day number.
    function dayStartingAtOrAfter(uint256 timestamp) internal pure returns (uint256) {
        return (timestamp + OFFSET + 1 days - 1) / 1 days;
    }
}
