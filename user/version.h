/* SPDX-License-Identifier: MIT */
#ifndef AET_VERSION_H
#define AET_VERSION_H

#define AET_COLLECTOR_VERSION "0.1.0"

#endif /* AET_VERSION_H */
